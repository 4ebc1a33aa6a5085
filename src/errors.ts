/**
 * One error family for the whole library. Each error carries the exit code that every command uses:
 * 0 ok, 1 the check found a problem (NaN, drift), 2 usage error, 3 bad input, 4 internal error.
 * The library never prints or exits; commands translate these into one-line messages.
 */

export const EXIT = {
  ok: 0,
  checkFailed: 1,
  usage: 2,
  badInput: 3,
  internal: 4,
} as const;

export class VaecheckError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** A file (weights, latents, image, ONNX, baseline) that cannot be used: `<file>: <problem>`. */
export class BadInputError extends VaecheckError {
  readonly file: string;
  readonly problem: string;
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`, EXIT.badInput);
    this.file = file;
    this.problem = problem;
  }
}

/** Flags or arguments that do not make sense together. */
export class UsageError extends VaecheckError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** A runtime facility that is not present (e.g. a GPU execution provider). Exit 2: the request can't be met. */
export class UnavailableError extends VaecheckError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** Formats `Expected <what> for <name> but received <value>` (sharp's error shape). */
export function expected(what: string, name: string, value: unknown): string {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return `Expected ${what} for ${name} but received ${shown}`;
}
