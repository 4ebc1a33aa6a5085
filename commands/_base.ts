/**
 * What every vaecheck command shares: one-line errors with the documented exit codes (0 ok,
 * 1 check failed, 2 usage, 3 bad input, 4 internal error, 5 Hub unavailable, 6 device unavailable),
 * no stack trace unless DEBUG is set, temporary files removed on Ctrl-C (and those of killed runs at
 * start), every printed line guarded against GitHub workflow-command injection, the global flags
 * (--json, --quiet, --threads, --no-progress), the flags for choosing latents, and the flags that
 * state a VAE's family or latent factors.
 */
import { Command, Flags, type Interfaces } from '@oclif/core';
import { join, relative } from 'node:path';
import { EXIT, UsageError, VaecheckError, renderOptions } from '../src/errors.js';
import { removePendingTemporaries } from '../src/io/output-files.js';
import { removeOwnTempFolders, removeStaleTempFolders } from '../src/io/temp-folders.js';
import { guardLines, logText } from '../src/ci-text.js';
import { toJson } from '../src/format.js';
import { PRECISIONS, type Precision } from '../src/dtype.js';
import { DEVICES, type Device, THREADS_ENV, onnxruntimeBusy } from '../src/runtime/session.js';
import type { LatentSource } from '../src/decode.js';
import { parseSize } from '../src/tensors/latents.js';
import { FAMILY_NAMES, type LatentSpaceRequest, describeLatentSpace, familiesWithChannels, familyIsAmbiguousDefault } from '../src/architecture/family.js';
import type { VaeArchitecture, VaeFamily } from '../src/architecture/vae-architecture.js';

let signalsInstalled = false;

type FlagOutput = { [name: string]: unknown };
type ArgOutput = { [name: string]: unknown };

/**
 * The same on every command (oclif merges baseFlags into each command's flags, and help lists them
 * under GLOBAL FLAGS).
 */
export const globalFlags = {
  json: Flags.boolean({ description: 'print the result as JSON on stdout (messages and warnings go to stderr)', helpGroup: 'GLOBAL' }),
  quiet: Flags.boolean({ char: 'q', description: 'print only errors and the PASSED/FAILED lines: no tables, notes, warnings or progress', helpGroup: 'GLOBAL' }),
  threads: Flags.integer({ description: `onnxruntime's intra-op threads (default: every CPU this process may use; also the environment variable ${THREADS_ENV})`, min: 1, max: 1024, helpGroup: 'GLOBAL' }),
  progress: Flags.boolean({ description: 'progress bars on stderr, drawn only when stderr is a terminal (--no-progress: never)', allowNo: true, helpGroup: 'GLOBAL' }),
};

export interface GlobalFlags {
  json: boolean;
  quiet: boolean;
  threads?: number;
  progress?: boolean;
}

/** A PASSED/FAILED verdict line (possibly coloured): what --quiet still prints. */
// eslint-disable-next-line no-control-regex
const isVerdictLine = (line: string) => /^(PASSED|FAILED) \|/.test(line.replace(/\u001b\[[0-9;]*m/g, '').trimStart());

/**
 * The flag of each library option that library errors name (see option() in src/errors.ts), so
 * that a library message such as `file` reads `--latents` on the command line.
 */
export const OPTION_FLAGS: Readonly<Record<string, string>> = {
  file: '--latents',
  random: '--random',
  seed: '--seed',
  latentSize: '--size',
  size: '--size',
  imageSize: '--size',
  tensor: '--tensor',
  out: '--out',
  force: '--force',
  device: '--device',
  demo: '--demo',
  vaes: '--vae',
  label: '--vae label=path',
  precisions: '--precision',
  reference: '--reference',
  images: '--image',
  shard: '--shard',
};

export abstract class VaecheckCommand extends Command {
  /** per-command exceptions to OPTION_FLAGS (e.g. nan-scan resizes images with --image-size) */
  static optionFlags: Readonly<Record<string, string>> = {};

  /** A library error's message with each option it names shown as this command's flag. */
  cliMessage(err: VaecheckError): string {
    const own = (this.constructor as typeof VaecheckCommand).optionFlags;
    return renderOptions(err.template, (name, value) => {
      const flag = own[name] ?? OPTION_FLAGS[name] ?? name;
      return value !== undefined ? `${flag} ${value}` : flag;
    });
  }

  static baseFlags = globalFlags;

  /** The global flags of this run, set by parse(). */
  protected globals: GlobalFlags = { json: false, quiet: false };

  protected async parse<F extends FlagOutput, B extends FlagOutput, A extends ArgOutput>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const r = await super.parse(options, argv);
    const f = r.flags as Partial<GlobalFlags>;
    this.globals = { json: f.json === true, quiet: f.quiet === true, threads: f.threads, progress: f.progress };
    if (f.threads !== undefined) process.env[THREADS_ENV] = String(f.threads);
    return r;
  }

  /**
   * Prints a line on stdout. With --quiet only PASSED/FAILED lines pass; with --json nothing but the
   * JSON itself (printJson) reaches stdout.
   */
  log(message = '', ...args: unknown[]): void {
    if (this.globals.json) return;
    if (this.globals.quiet && !isVerdictLine(message)) return;
    // every stdout line is guarded: a name from a file can never start a CI workflow command
    super.log(guardLines(message), ...args);
  }

  /** The --json output: one JSON document on stdout (non-finite numbers as "inf"/"-inf"/"nan", src/format.ts). */
  printJson(value: unknown): void {
    this.printJsonText(toJson(value));
  }

  /** JSON text already made, printed as printJson does (guarded like every stdout line). */
  printJsonText(text: string): void {
    process.stdout.write(`${guardLines(text)}\n`);
  }

  async init(): Promise<void> {
    await super.init();
    if (!signalsInstalled) {
      signalsInstalled = true;
      removeStaleTempFolders();
      for (const sig of ['SIGINT', 'SIGTERM'] as const) {
        process.once(sig, () => {
          removePendingTemporaries();
          removeOwnTempFolders();
          if (!onnxruntimeBusy()) process.exit(sig === 'SIGINT' ? 130 : 143);
          // onnxruntime is inside a run in its worker thread, and process.exit would wait for that
          // native call to return: end at once by the signal's default action (status 130 / 143 in a shell)
          process.removeAllListeners(sig);
          process.kill(process.pid, sig);
        });
      }
    }
  }

  /** The one way to print a workflow command on purpose (the gate's ::error annotations). */
  workflowCommand(line: string, toStderr: boolean): void {
    if (toStderr) process.stderr.write(`${line}\n`);
    else super.log(line);
  }

  /**
   * How the user can run vaecheck again, for commands printed in hints: `node bin/run.js` when they
   * started it that way from a checkout, else the installed name.
   */
  get shownBin(): string {
    const script = process.argv[1];
    return script && relative(process.cwd(), script) === join('bin', 'run.js') ? 'node bin/run.js' : this.config.bin;
  }

  /** Warnings go to stderr so stdout stays parseable; --quiet drops them. */
  warnLine(message: string): void {
    if (this.globals.quiet) return;
    process.stderr.write(`vaecheck: warning: ${logText(oneLine(message))}\n`);
  }

  async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    removePendingTemporaries();
    if (err instanceof VaecheckError) {
      process.stderr.write(`vaecheck: error: ${logText(oneLine(this.cliMessage(err)))}\n`);
      if (process.env.DEBUG && err.stack) process.stderr.write(`${err.stack}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    // oclif's own parse errors (unknown flag, missing argument) are usage errors: exit 2
    if (err.oclif?.exit !== undefined) {
      if (err.oclif.exit === 0) return;
      process.stderr.write(`vaecheck: error: ${logText(oclifMessage(err.message))}\n`);
      if (process.env.DEBUG && err.stack) process.stderr.write(`${err.stack}\n`);
      process.exitCode = err.oclif.exit === 2 || err.oclif.exit === 1 ? EXIT.usage : err.oclif.exit;
      return;
    }
    process.stderr.write(`vaecheck: internal error: ${logText(oneLine(err.message))}${process.env.DEBUG ? '' : ' (set DEBUG=1 for the stack trace)'}\n`);
    if (process.env.DEBUG && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exitCode = EXIT.internal;
    return;
  }
}

/** A message as one line: line breaks (e.g. from names or JSON quoted out of a file) become spaces. */
function oneLine(message: string): string {
  return message.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/**
 * oclif's parse errors span lines ("The following error occurred:", the problems indented, "See more
 * help with --help"): keep the problems, joined into one line.
 */
function oclifMessage(message: string): string {
  const lines = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !/^The following errors? occurred:?$/i.test(l) && !/^See more help with/i.test(l));
  if (lines.length === 0) return oneLine(message);
  return lines.reduce((acc, l) => (acc.endsWith(':') ? `${acc} ${l}` : `${acc}; ${l}`)).replace(/\s{2,}/g, ' ');
}

/** @param what what runs at this precision ("decode", "encode", "scan") */
export const precisionFlag = (defaultValue: Precision = 'fp32', what = 'decode') =>
  Flags.string({ description: `${what} precision: fp32, bf16 (emulated) or fp16 (emulated on CPU)`, options: [...PRECISIONS], default: defaultValue });

export const deviceFlag = Flags.string({
  description: 'cpu (fp16/bf16 emulated exactly), or cuda for native half precision where onnxruntime-node has its CUDA provider',
  options: [...DEVICES],
  default: 'cpu',
});

export const latentFlags = {
  latents: Flags.string({ description: 'latents file: .npy (float32/float16, C order) or .safetensors; taken as scaled (diffusion-space) latents' }),
  tensor: Flags.string({ description: 'tensor name inside a .safetensors latents file' }),
  random: Flags.boolean({ description: 'use seeded N(0,1) latents (scaled space) instead of a file' }),
  seed: Flags.integer({ description: 'seed for --random [default: 0]', default: 0 }),
  size: Flags.string({ description: 'latent size HxW for --random (64x64 latents decode to 512x512 for SDXL)', default: '64x64' }),
  batch: Flags.integer({ description: 'batch size for --random', default: 1, min: 1 }),
  unscaled: Flags.boolean({ description: 'the latents are raw encoder outputs (not multiplied by the scaling factor)' }),
};

export function latentSource(flags: { latents?: string; tensor?: string; random: boolean; seed: number; size: string; batch: number; unscaled: boolean }): LatentSource {
  return {
    file: flags.latents,
    tensor: flags.tensor,
    random: flags.random ? { seed: flags.seed, batch: flags.batch, ...parseSize(flags.size) } : undefined,
    unscaled: flags.unscaled,
  };
}

export const asPrecision = (s: string) => s as Precision;
export const asDevice = (s: string) => s as Device;

/** Where the weights cannot tell the family (SD 1.x vs SDXL, SD3 vs FLUX.1 share every shape), the user can. */
export const latentSpaceFlags = {
  family: Flags.string({
    description: 'the VAE\'s family, which sets its latent factors: sd15 (SD 1.x/2.x), sdxl, sd3 (SD3/3.5) or flux (FLUX.1); default: from config.json, else SDXL for 4 latent channels and FLUX.1 for 16 (stated in the output)',
    options: [...FAMILY_NAMES],
  }),
  'scaling-factor': Flags.string({ description: 'latent scaling factor: decoding takes latents / scaling + shift (overrides config.json and --family)' }),
  'shift-factor': Flags.string({ description: 'latent shift factor (overrides config.json and --family; 0.1159 for FLUX.1, 0.0609 for SD3)' }),
};

export interface LatentSpaceFlagValues {
  family?: string;
  'scaling-factor'?: string;
  'shift-factor'?: string;
}

/** The user's statement about the latent space, from the flags. */
export function latentSpaceRequest(flags: LatentSpaceFlagValues): LatentSpaceRequest {
  const req: LatentSpaceRequest = {};
  if (flags.family !== undefined) req.family = flags.family as VaeFamily;
  if (flags['scaling-factor'] !== undefined) {
    const v = Number(flags['scaling-factor']);
    if (!(v > 0 && Number.isFinite(v))) throw new UsageError(`--scaling-factor must be a positive number, got ${JSON.stringify(flags['scaling-factor'])}`);
    req.scalingFactor = v;
  }
  if (flags['shift-factor'] !== undefined) {
    const v = Number(flags['shift-factor']);
    if (flags['shift-factor'].trim() === '' || !Number.isFinite(v)) throw new UsageError(`--shift-factor must be a number, got ${JSON.stringify(flags['shift-factor'])}`);
    req.shiftFactor = v;
  }
  return req;
}

/** What a VAE is taken to be (family, factors, their source), with how to state it when it was a default. */
export function latentSpaceLine(a: VaeArchitecture): string {
  const line = describeLatentSpace(a);
  return familyIsAmbiguousDefault(a) ? `${line}; state it with --family ${familiesWithChannels(a.latentChannels).join('|')}` : line;
}
