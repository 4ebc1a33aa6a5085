/**
 * What gate, compare and nan-scan share for CI: the --junit flag and GitHub Actions outputs.
 *
 * --junit names a CI output path, the same on every run of a job: an existing regular file there is
 * replaced (a report from an earlier run or step), without --force. A folder, a device, a FIFO or a
 * socket at that path is refused before any work (exit 3, bad input, as for every output); a link is
 * replaced itself, never written through.
 */
import { Flags } from '@oclif/core';
import { appendFileSync, statSync } from 'node:fs';
import { BadInputError } from '../src/errors.js';
import { OutputSet } from '../src/io/output-files.js';

export const junitFlag = Flags.string({ description: 'write JUnit XML here, one testcase per check with its own time (a CI output: an existing regular file is replaced)' });

/**
 * Refuses a --junit path where a regular file cannot go (exit 3, like every output): a folder, a device,
 * a FIFO or a socket (a link is replaced itself, its target untouched). Creates nothing yet.
 */
export function checkJunitPath(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    return; // absent (or a dangling link): written fresh
  }
  if (st.isFile()) return;
  const kind = st.isDirectory() ? 'a folder' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'not a regular file';
  throw new BadInputError(path, `is ${kind}; --junit names a file (an existing regular file is replaced), and vaecheck never writes into ${kind === 'a folder' ? 'a folder there' : kind}`);
}

/** Writes the JUnit XML all at once (temporary file renamed into place), creating its folder. */
/** @param inputs the run's input paths, which the report must never replace */
export function writeJunit(path: string, xml: string, inputs: readonly string[] = []): void {
  checkJunitPath(path);
  const out = new OutputSet(true, inputs);
  out.add(path, xml);
  out.commit();
}

/**
 * Under GitHub Actions: appends the Markdown summary to $GITHUB_STEP_SUMMARY and prints the `::error`
 * annotations through the command's one deliberate workflow-command printer (on stderr with --json, so
 * that stdout stays JSON; --quiet keeps them).
 */
export function githubOutputs(summary: string, annotations: readonly string[], json: boolean, cmd: { workflowCommand(line: string, toStderr: boolean): void }): void {
  if (process.env.GITHUB_ACTIONS !== 'true') return;
  if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, summary);
  for (const line of annotations) cmd.workflowCommand(line, json);
}
