/**
 * What gate, compare and nan-scan share for CI: the --junit flag and GitHub Actions outputs.
 *
 * --junit names a CI output path, the same on every run of a job: an existing regular file there is
 * replaced (a report from an earlier run or step), without --force. Anything else at that path (a
 * folder, a link, a device) is refused before any work, with exit 2: vaecheck never writes through it.
 */
import { Flags } from '@oclif/core';
import { appendFileSync, lstatSync } from 'node:fs';
import { UsageError } from '../src/errors.js';
import { OutputSet } from '../src/io/output-files.js';

export const junitFlag = Flags.string({ description: 'write JUnit XML here, one testcase per check with its own time (a CI output: an existing regular file is replaced)' });

/** Refuses a --junit path that holds something other than a regular file; creates nothing yet. */
export function checkJunitPath(path: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isFile()) throw new UsageError(`--junit ${path} is ${st.isDirectory() ? 'a folder' : st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}; give the path of a file (an existing regular file is replaced)`);
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
