/**
 * compare's efficiency (a script, not a test): two full-size SDXL-architecture VAEs with seeded random
 * weights (written to a temporary folder as F16 safetensors), the 3x2 matrix at 64x64 latents. Prints
 * the whole run's time against the sum of its cells' graph builds and decodes; target <= 1.05x (issue 12).
 *
 * Usage: node --import tsx test/bench/compare.bench.ts [--size 64] [--precision fp32,bf16,fp16]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { float32ToBytes, type Precision } from '../../src/dtype.js';
import { runCompare } from '../../src/compare/run-compare.js';
import { compareFiles } from '../../src/report/compare-files.js';
import { randomNormal } from '../../src/tensors/random.js';
import type { VaeArchitecture } from '../../src/architecture/vae-architecture.js';
import { expectedShapes } from '../../src/architecture/shapes.js';
import { encodeSafetensors } from '../../src/weights/safetensors-writer.js';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const size = Number(arg('size', '64'));
const TARGET = 1.05;
const precisions = arg('precision', 'fp32,bf16,fp16').split(',') as Precision[];

const arch: VaeArchitecture = { blockOutChannels: [128, 256, 512, 512], layersPerBlock: 2, groups: 32, eps: 1e-6, latentChannels: 4, inChannels: 3, outChannels: 3, midAttention: true, quantConv: true, postQuantConv: true, scalingFactor: 0.13025, shiftFactor: 0, scalingFactorSource: 'default', family: { family: 'sdxl', source: 'default' }, hasEncoder: false, hasDecoder: true };

function randomVae(path: string, seed: number, perturb: number): void {
  const tensors = [];
  let s = seed * 100_000;
  for (const [name, shape] of expectedShapes(arch, 'decoder')) {
    const n = shape.reduce((a, b) => a * b, 1);
    const d = randomNormal(s++, n);
    const fan = shape.length === 4 ? shape[1] * shape[2] * shape[3] : shape.length === 2 ? shape[1] : 0;
    const base = randomNormal(1_000_000 + tensors.length, n); // shared by both VAEs: B is A perturbed
    for (let i = 0; i < n; i++) {
      const v = base[i] + perturb * d[i];
      d[i] = name.endsWith('.weight') && fan ? v / Math.sqrt(fan) : /norm.*\.weight$|group_norm\.weight$/.test(name) ? 1 + 0.05 * v : 0.01 * v;
    }
    tensors.push({ name, dtype: 'F16' as const, shape, bytes: float32ToBytes(d, 'F16') });
  }
  writeFileSync(path, encodeSafetensors(tensors));
}

const dir = mkdtempSync(join(tmpdir(), 'vaecheck-bench-'));
try {
  const t0 = performance.now();
  randomVae(join(dir, 'a.safetensors'), 1, 0);
  randomVae(join(dir, 'b.safetensors'), 2, 0.02);
  console.log(`two random SDXL-architecture decoders written in ${((performance.now() - t0) / 1000).toFixed(1)} s; matrix ${precisions.join(',')} x 2 at ${size}x${size} latents`);
  const r = await runCompare({
    vaes: [{ label: 'a', path: join(dir, 'a.safetensors') }, { label: 'b', path: join(dir, 'b.safetensors') }],
    precisions,
    input: { kind: 'latents', sources: [{ random: { seed: 1, batch: 1, height: size, width: size } }] },
    minPsnr: 25,
    minSsim: 0,
  });
  const f0 = performance.now();
  await compareFiles(r, 'bench');
  const filesS = (performance.now() - f0) / 1000;
  console.log('cell        graph s  decode s  verdict');
  let sum = 0;
  for (const c of r.cells) {
    sum += c.seconds.graph + c.seconds.decode;
    console.log(`${c.key.padEnd(10)}  ${c.seconds.graph.toFixed(2).padStart(7)}  ${c.seconds.decode.toFixed(2).padStart(8)}  ${c.pass ? 'pass' : c.reasons.join('; ')}`);
  }
  const total = r.seconds.total + filesS;
  console.log(`weights read once per VAE: ${r.seconds.weights.toFixed(2)} s for 2 VAEs`);
  console.log(`whole matrix (loading, decoding, metrics, images, reports) ${total.toFixed(1)} s; sum of the cells' graph builds and decodes ${sum.toFixed(1)} s`);
  const decodes = r.cells.reduce((a, c) => a + c.seconds.decode, 0);
  console.log(`ratio to graph builds + decodes ${(total / sum).toFixed(3)} (target <= ${TARGET}): ${total / sum <= TARGET ? 'PASS' : 'MISS'}`);
  console.log(`ratio to decodes alone ${(total / decodes).toFixed(3)} (session creation counted as overhead)`);
  const load = loadavg();
  console.log(`load average (1, 5, 15 min) at the end: ${load.map((x) => x.toFixed(1)).join(', ')} on ${cpus().length} CPUs`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
