/**
 * The bundled demo of `compare --demo`: fixtures/demo/ (made by fixtures/make-demo.ts, committed),
 * what its matrix is expected to show, and the text that explains the result to a first-time user.
 *
 * The demo exists to show one failure: the miniature "SDXL-VAE" overflows fp16 (NaN, a black image)
 * while every other cell passes. So the demo succeeds (exit 0) when exactly that cell fails, on
 * NaN/Inf, and fails (exit 1) when the matrix shows anything else.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadInputError } from '../errors.js';
import type { CompareInput, CompareResult, CompareVae } from './run-compare.js';

export const DEMO_PHOTOS = ['chelsea', 'coffee', 'astronaut'];
/** The demo's original (overflows in fp16) and its fp16-safe sibling. */
export const DEMO_ORIGINAL = 'demo-sdxl-vae';
export const DEMO_FIXED = 'demo-fp16-fix';

export function demoDir(): string {
  // from src/compare (tsx) or dist/src/compare (built)
  const candidates = ['../../fixtures/demo', '../../../fixtures/demo'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const dir = candidates.find((d) => existsSync(join(d, DEMO_ORIGINAL, 'config.json')));
  if (!dir) throw new BadInputError(candidates[0], 'the bundled demo is missing (reinstall vaecheck, or run node --import tsx fixtures/make-demo.ts)');
  return dir;
}

export function demoInput(): { vaes: CompareVae[]; input: CompareInput } {
  const dir = demoDir();
  return {
    vaes: [
      { label: DEMO_ORIGINAL, path: join(dir, DEMO_ORIGINAL) },
      { label: DEMO_FIXED, path: join(dir, DEMO_FIXED) },
    ],
    input: { kind: 'latents', sources: DEMO_PHOTOS.map((p) => ({ file: join(dir, `${p}.npy`) })) },
  };
}

export interface DemoOutcome {
  /** every cell came out as the demo means it to: only the original's fp16 cell fails, on NaN/Inf */
  asExpected: boolean;
  /** one line per cell that did not, e.g. "demo-sdxl-vae@bf16 failed (expected to pass): …" */
  surprises: string[];
}

/** Whether a demo matrix shows what the demo is for (see the file header). */
export function demoOutcome(r: CompareResult): DemoOutcome {
  const surprises: string[] = [];
  for (const c of r.cells) {
    const expectFail = c.vae === DEMO_ORIGINAL && c.precision === 'fp16';
    if (expectFail && c.pass) surprises.push(`${c.key} passed (expected to fail with NaN/Inf)`);
    else if (expectFail && !(c.nonFiniteFraction > 0)) surprises.push(`${c.key} failed without NaN/Inf (expected NaN/Inf): ${c.reasons.join('; ')}`);
    else if (!expectFail && !c.pass) surprises.push(`${c.key} failed (expected to pass): ${c.reasons.join('; ')}`);
  }
  return { asExpected: surprises.length === 0, surprises };
}

/** A path as the user can type it from the working folder: relative when inside it, else absolute. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/**
 * What the demo's result means and what to do next, as plain lines (no colour).
 * @param bin the command name to show (e.g. "vaecheck")
 * @param reportHtml where report.html was written, if anywhere
 */
export function demoEpilogue(r: CompareResult, outcome: DemoOutcome, bin: string, reportHtml?: string): string[] {
  const lines: string[] = [''];
  const hasFp16 = r.cells.some((c) => c.vae === DEMO_ORIGINAL && c.precision === 'fp16');
  if (outcome.asExpected && hasFp16) {
    lines.push(
      'What this means: the demo came out as it should (exit 0). The FAILED cell is the expected one:',
      `${DEMO_ORIGINAL}'s activations pass fp16's largest finite value, 65504, become Inf and then NaN`,
      '(a black image), as the original SDXL VAE does on a GPU in half precision. bf16 has fp32\'s range',
      `and stays finite; ${DEMO_FIXED} stays below 65504 and passes everywhere.`,
    );
  } else if (outcome.asExpected) {
    lines.push('What this means: the demo came out as it should (exit 0); without an fp16 column nothing overflows: add fp16 to --precision to see the failure.');
  } else {
    lines.push(`The demo did NOT come out as it should (exit 1): only ${DEMO_ORIGINAL}@fp16 is meant to fail, on NaN/Inf.`);
    for (const s of outcome.surprises) lines.push(`  ${s}`);
  }
  const vae = shown(join(demoDir(), DEMO_ORIGINAL));
  lines.push(
    'Next steps:',
    `  find the layer that overflows:  ${bin} nan-scan --demo`,
    `  make the VAE fp16-safe:         ${bin} fix --vae ${vae} --out demo-fixed`,
    ...(reportHtml ? [`  see the images and tables:      open ${shown(reportHtml)}`] : []),
    `  check your own VAE:             ${bin} compare --vae mine=path/to/vae --random --out out/`,
    '  decode a VAE that overflows in fp32 (or bf16) instead of fp16:',
    '    diffusers:      keep force_upcast=True in the VAE config (the default), or vae.to(torch.float32)',
    '    AUTOMATIC1111:  --no-half-vae',
    '    ComfyUI:        --fp32-vae (or --bf16-vae where the GPU supports bf16)',
  );
  return lines;
}
