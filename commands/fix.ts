import { Flags } from '@oclif/core';
import { existsSync, statSync } from 'node:fs';
import { BadInputError, UsageError } from '../src/errors.js';
import { nonFiniteWeightsNote } from '../src/weights/nonfinite-weights.js';
import { decodeToImages, resolveLatents } from '../src/decode.js';
import { db, exponential, fixed } from '../src/format.js';
import { readImageBatch } from '../src/encode.js';
import { FIX_THRESHOLDS, measure, overflowsOutOfReach, verify } from '../src/fix/fix.js';
import { type FixPlan, type Part, planFix } from '../src/fix/plan.js';
import { fixedVaeFiles, fixedVaeLayout, joinOut, scaledTensors, writesFolder } from '../src/fix/write.js';
import { OutputSet } from '../src/io/output-files.js';
import { parseSize } from '../src/tensors/latents.js';
import { openVae } from '../src/source/vae-source.js';
import { VaecheckCommand, latentSpaceRequest } from './_base.js';
import { loadVaeFromArg, vaeLoadFlags } from './_hub.js';
import { type Tensor, splitBatch } from '../src/tensor.js';
import { Progress } from './_progress.js';

export default class Fix extends VaecheckCommand {
  static summary = 'Make a VAE fp16-safe without retraining (any AutoencoderKL family), its fp32 output unchanged';
  static description =
    'Multiplies each stage of the residual stream (and each resnet\'s conv1 output) by a power of two so that every rescalable activation stays at or below 65504 / --headroom on the calibration latents; ' +
    'GroupNorm removes the scale, so the fp32 output is unchanged. Writes the result in the input\'s naming, storage dtype and layout (a diffusers folder gets force_upcast false), then verifies on held-out latents. ' +
    'Exit 1 when an overflow sits where rescaling cannot reach or the fixed VAE is still not finite in fp16.';
  static examples = [
    '<%= config.bin %> fix --vae sdxl_vae.safetensors --out sdxl_vae_fp16_fixed.safetensors',
    '<%= config.bin %> fix --vae ./sdxl-vae --out ./sdxl-vae-fixed --latents calib1.npy --latents calib2.npy --headroom 8',
  ];
  static flags = {
    vae: Flags.string({ description: 'the VAE to fix (.safetensors or diffusers folder)', required: true }),
    out: Flags.string({ description: 'output: a .safetensors file, or a folder for a diffusers-folder input', required: true }),
    part: Flags.string({ description: 'which part to fix (default: every part the file holds)', options: ['decoder', 'encoder', 'both'] }),
    headroom: Flags.string({ description: 'keep activations at or below 65504 / headroom', default: '4' }),
    latents: Flags.string({ description: 'calibration latents (scaled); repeat for several', multiple: true }),
    image: Flags.string({ description: 'encoder calibration image files or folders (default: fp32 decodes of the calibration latents)', multiple: true }),
    seed: Flags.integer({ description: 'seed of the random calibration latents (held-out latents use seed + 1000) [default: 0]', default: 0 }),
    size: Flags.string({ description: 'latent size HxW of random calibration and held-out latents', default: '32x32' }),
    count: Flags.integer({ description: 'how many random calibration latents', default: 2, min: 1 }),
    force: Flags.boolean({ description: 'overwrite existing output' }),
    ...vaeLoadFlags,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Fix);
    const headroom = Number(flags.headroom);
    if (!(headroom >= 1)) throw new UsageError(`--headroom must be a number >= 1, got ${JSON.stringify(flags.headroom)}`);
    const vae = await loadVaeFromArg(flags.vae, flags, this.globals);
    const parts: Part[] = flags.part === 'both' || !flags.part ? (['decoder', 'encoder'] as Part[]).filter((p) => (p === 'decoder' ? vae.arch.hasDecoder : vae.arch.hasEncoder)) : [flags.part as Part];
    for (const p of parts) if (p === 'encoder' ? !vae.arch.hasEncoder : !vae.arch.hasDecoder) throw new UsageError(`${vae.weightsFile} has no ${p}`);
    if (parts.length === 0) throw new BadInputError(vae.weightsFile, 'has neither decoder nor encoder weights');
    // rescaling moves finite values; NaN or Inf in the weights stays NaN or Inf
    const badWeights = nonFiniteWeightsNote(vae);
    if (badWeights) throw new BadInputError(vae.weightsFile, badWeights);
    const size = parseSize(flags.size);
    const latentsOf = (seed: number) => (flags.latents && seed === flags.seed
      ? flags.latents.flatMap((file) => splitBatch(resolveLatents(vae, { file }).raw))
      : splitBatch(resolveLatents(vae, { random: { seed, batch: flags.count, ...size } }).raw));
    const calib = latentsOf(flags.seed);
    const heldOut = latentsOf(flags.seed + 1000);
    const images = async (lat: Tensor[], files?: string[]) => (files ? splitBatch(await readImageBatch(files)) : decodeToImages(vae, lat));

    // refuse a bad or existing --out before the (long) measurement, not after it
    const folderOut = writesFolder(vae);
    if (folderOut && existsSync(flags.out) && !statSync(flags.out).isDirectory()) throw new UsageError(`--out ${flags.out} must be a folder for a diffusers-folder input`);
    if (!folderOut && !flags.out.toLowerCase().endsWith('.safetensors')) throw new UsageError(`--out must end in .safetensors for a file input, got ${JSON.stringify(flags.out)}`);
    // never written inside or over the input; locked; published only after it verified
    const inputs = [flags.vae, vae.weightsFile, ...(vae.configFile ? [vae.configFile] : []), ...(flags.latents ?? []), ...(flags.image ?? [])];
    const outputs = folderOut
      ? OutputSet.folder(flags.out, { force: flags.force, owned: () => fixedVaeLayout(vae), inputs, what: 'fixed VAE' })
      : new OutputSet(flags.force, inputs);
    for (const rel of fixedVaeLayout(vae)) outputs.check(joinOut(flags.out, rel), true);
    const stats = new Map<Part, Awaited<ReturnType<typeof measure>>>();
    await Progress.for(this.globals).around(async (update) => {
      for (const p of parts) stats.set(p, await measure(vae, p, p === 'decoder' ? calib : await images(calib, flags.image), update));
    });
    const plans: FixPlan[] = parts.map((p) => planFix(vae.arch, p, stats.get(p)!, headroom));
    const changed = scaledTensors(vae, plans.flatMap((p) => p.layers));
    const note = `vaecheck fix, headroom ${headroom}: ${plans.map((p) => `${p.part} stage scales ${p.stages.map((s) => s.scale).join(',')}`).join('; ')}`;
    const files = fixedVaeFiles(vae, changed, note);
    for (const [rel, bytes] of files) outputs.add(joinOut(flags.out, rel), bytes);

    let ok = true;
    let faithful = true;
    const report: Record<string, unknown>[] = [];
    for (const p of plans) {
      this.log(`${p.part}: ${p.stages.length} stream stages, target max |x| <= ${p.target.toFixed(0)} (65504 / ${headroom})`);
      for (const s of p.stages) if (s.scale !== 1) this.log(`  stage from ${s.opens}: max |x| ${s.maxAbs.toPrecision(5)} -> x${fmtScale(s.scale)} = ${(s.maxAbs * s.scale).toPrecision(5)}`);
      for (const [name, c] of p.conv1) if (c.scale !== 1) this.log(`  ${name}: max |x| ${c.maxAbs.toPrecision(5)} -> x${fmtScale(c.scale)}`);
      if (p.layers.length === 0) this.log('  nothing to rescale: already within the target');
      for (const { op, maxAbs } of overflowsOutOfReach(p, stats.get(p.part)!)) {
        this.log(`  FAILED | ${op} reaches max |x| ${maxAbs.toPrecision(5)}, where rescaling cannot reach (after a GroupNorm's affine, a SiLU, inside attention, or the output)`);
        ok = false;
      }
      // ops below 65504 but above the target only lose headroom: one summary line, not one per op
      const near = p.unreachable.map((op) => ({ op, m: stats.get(p.part)!.get(op)!.maxAbs })).filter((u) => u.m <= 65504).sort((a, b) => b.m - a.m);
      if (near.length) this.log(`  warning | ${near.length} op(s) that rescaling cannot reach stay above ${p.target.toFixed(0)}; largest ${near[0].op} at ${near[0].m.toPrecision(5)}`);
      report.push({
        part: p.part,
        target: p.target,
        stages: p.stages.map((s) => ({ opens: s.opens, maxAbs: s.maxAbs, scale: s.scale })),
        conv1: [...p.conv1].map(([name, c]) => ({ name, maxAbs: c.maxAbs, scale: c.scale })),
        unreachable: p.unreachable.map((op) => ({ op, maxAbs: stats.get(p.part)!.get(op)!.maxAbs })),
      });
    }
    // the staged weights file, verified before anything is published
    const fixedVae = openVae(outputs.stagedPath(joinOut(flags.out, folderOut ? fixedVaeLayout(vae)[1] : '')), { latentSpace: latentSpaceRequest(flags) });
    this.log(`verification on ${heldOut.length} held-out latent(s) (seed ${flags.seed + 1000}), not the calibration ones:`);
    for (const p of parts) {
      const v = await Progress.for(this.globals).around(async (update) => verify(vae, fixedVae, p, p === 'decoder' ? heldOut : await images(heldOut, undefined), update));
      const entry = report.find((r) => r.part === p);
      if (entry) entry.verification = { ...v, heldOut: heldOut.length, seed: flags.seed + 1000 };
      if (!v.fp16Verdict.pass) ok = false;
      if (!v.fp32Verdict.pass) faithful = false;
      this.log(`  ${p}: fp32 max abs difference to the original ${exponential(v.fp32MaxAbsDiff)} (expected <= ${FIX_THRESHOLDS.fp32.maxAbsError!.toExponential()}${v.fp32Verdict.pass ? '' : ': FAILED, lower --headroom'})`);
      this.log(`  ${p}: fp16 ${v.fp16Verdict.pass ? 'finite' : `${v.fp16NonFinite} NaN/Inf, first at ${v.firstNonFinite}`}; PSNR against the original's fp32 ${db(v.fp16Psnr)} dB (original in fp16: ${v.originalFp16NonFinite} NaN/Inf)`);
      this.log(`  ${p}: smallest headroom x${fixed(v.tightest.headroom, 1)} at ${v.tightest.name} (max |x| ${v.tightest.maxAbs.toPrecision(5)})`);
    }
    if (this.globals.json) this.printJson({ schema: 'vaecheck.fix/1', vae: vae.source, out: flags.out, headroom, parts: report, ok: ok && faithful, written: faithful });
    if (!faithful) {
      // a fix that changes the fp32 output is damage, not a fix: nothing is published
      outputs.abort();
      this.log(`FAILED | vaecheck fix | the fixed VAE changes the fp32 output beyond ${FIX_THRESHOLDS.fp32.maxAbsError!.toExponential()}: nothing written to ${flags.out}`);
      process.exitCode = 1;
      return;
    }
    outputs.commit();
    this.log(`${ok ? 'PASSED' : 'FAILED'} | vaecheck fix | wrote ${flags.out}${ok ? '' : ' (partly fixed: see above)'}`);
    if (!ok) process.exitCode = 1;
  }
}

function fmtScale(s: number): string {
  const e = Math.log2(s);
  return Number.isInteger(e) ? `2^${e}` : String(s);
}
