import { Args, Command, loadHelpClass } from '@oclif/core';
import { EXIT } from '../src/errors.js';
import { unknownCommandLine } from './_not-found.js';

/** `vaecheck help [command]`: the same help as `vaecheck [command] --help`. */
export default class Help extends Command {
  static summary = 'Show help for vaecheck, or for one command';
  static examples = ['<%= config.bin %> help', '<%= config.bin %> help gate'];
  static args = { command: Args.string({ description: 'the command to explain' }) };
  static strict = false;

  async run(): Promise<void> {
    const { argv } = await this.parse(Help);
    const words = argv as string[];
    const id = words.filter((w) => !w.startsWith('-')).join(':');
    if (id && !this.config.findCommand(id) && !this.config.findTopic(id)) {
      process.stderr.write(`${unknownCommandLine(id.replace(/:/g, ' '), this.config.commandIDs, this.config.bin)}\n`);
      process.exitCode = EXIT.usage;
      return;
    }
    const HelpClass = await loadHelpClass(this.config);
    await new HelpClass(this.config, this.config.pjson.oclif.helpOptions ?? {}).showHelp(words);
  }
}
