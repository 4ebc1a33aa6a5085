/**
 * Runs `work` with the working directory set to an empty temporary folder.
 *
 * The fake Hub's repos are named `test/...`, and a bare `owner/name` whose first segment is an existing
 * local folder is a local path (src/hub/spec.ts isHubSpec). The tests run from the repository root,
 * where `test/` exists, so a bare spec is resolved from a folder where it cannot be taken for one.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function outsideCheckout<T>(work: () => Promise<T>): Promise<T> {
  const before = process.cwd();
  process.chdir(mkdtempSync(join(tmpdir(), 'vaecheck-cwd-')));
  try {
    return await work();
  } finally {
    process.chdir(before);
  }
}
