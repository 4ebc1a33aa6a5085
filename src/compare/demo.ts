/** The bundled demo of `compare --demo`: fixtures/demo/ (made by fixtures/make-demo.ts, committed). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadInputError } from '../errors.js';
import type { CompareInput, CompareVae } from './run-compare.js';

export const DEMO_PHOTOS = ['chelsea', 'coffee', 'astronaut'];

export function demoDir(): string {
  // from src/compare (tsx) or dist/src/compare (built)
  const candidates = ['../../fixtures/demo', '../../../fixtures/demo'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const dir = candidates.find((d) => existsSync(join(d, 'demo-sdxl-vae', 'config.json')));
  if (!dir) throw new BadInputError(candidates[0], 'the bundled demo is missing (reinstall vaecheck, or run node --import tsx fixtures/make-demo.ts)');
  return dir;
}

export function demoInput(): { vaes: CompareVae[]; input: CompareInput } {
  const dir = demoDir();
  return {
    vaes: [
      { label: 'demo-sdxl-vae', path: join(dir, 'demo-sdxl-vae') },
      { label: 'demo-fp16-fix', path: join(dir, 'demo-fp16-fix') },
    ],
    input: { kind: 'latents', sources: DEMO_PHOTOS.map((p) => ({ file: join(dir, `${p}.npy`) })) },
  };
}
