/**
 * One error family for the whole library. Each error carries the exit code that every command uses:
 *
 *   0 ok · 1 the check found a problem (NaN, drift) · 2 usage error · 3 a file that cannot be used ·
 *   4 internal error · 5 the Hugging Face Hub could not provide a VAE (no network, an HTTP error, a
 *   download cut off or corrupted, or offline mode without a cached copy) · 6 the requested device
 *   (execution provider) is not available here.
 *
 * The library never prints or exits; commands translate these into one-line messages.
 *
 * Messages speak the library's language. Where one names an option of a library call, it marks it
 * with option(name): the error's `message` shows the plain name (`device cuda`), and a command
 * renders the same error with its own flag for that option (`--device cuda`) through renderOptions.
 */

export const EXIT = {
  ok: 0,
  checkFailed: 1,
  usage: 2,
  badInput: 3,
  internal: 4,
  hub: 5,
  unavailable: 6,
} as const;

const OPEN = '\u0001';
const CLOSE = '\u0002';
const MARKED = /\u0001([^\u0001\u0002\s]+)(?: ([^\u0001\u0002]*))?\u0002/g;

/** Marks a library option (and optionally its value) inside an error message. */
export function option(name: string, value?: string): string {
  return `${OPEN}${name}${value !== undefined ? ` ${value}` : ''}${CLOSE}`;
}

/** Writes the options marked in `text` with `show` (default: the option's name, then its value). */
export function renderOptions(text: string, show: (name: string, value?: string) => string = (n, v) => (v !== undefined ? `${n} ${v}` : n)): string {
  return text.replace(MARKED, (_m, name: string, value: string | undefined) => show(name, value));
}

export class VaecheckError extends Error {
  readonly exitCode: number;
  /** the message with its options still marked (see option()), for commands to render with flags */
  readonly template: string;
  constructor(message: string, exitCode: number) {
    super(renderOptions(message));
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.template = message;
  }
}

/** A file (weights, latents, image, ONNX, baseline) that cannot be used: `<file>: <problem>`. */
export class BadInputError extends VaecheckError {
  readonly file: string;
  readonly problem: string;
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`, EXIT.badInput);
    this.file = file;
    this.problem = renderOptions(problem);
  }
}

/** Options or arguments that do not make sense together. */
export class UsageError extends VaecheckError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/**
 * The Hugging Face Hub could not provide what was asked: `<repo>: <problem>` (exit 5). The repo is
 * shown as the user named it (owner/name[@revision][/subfolder]).
 */
export class HubError extends VaecheckError {
  readonly repo: string;
  readonly problem: string;
  constructor(repo: string, problem: string) {
    super(`${repo}: ${problem}`, EXIT.hub);
    this.repo = repo;
    this.problem = renderOptions(problem);
  }
}

/** A runtime facility that is not present (e.g. a GPU execution provider): exit 6. */
export class UnavailableError extends VaecheckError {
  constructor(message: string) {
    super(message, EXIT.unavailable);
  }
}

/** Formats `Expected <what> for <name> but received <value>` (sharp's error shape). */
export function expected(what: string, name: string, value: unknown): string {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return `Expected ${what} for ${name} but received ${shown}`;
}
