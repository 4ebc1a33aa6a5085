import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { float32ToBytes, ONNX_FLOAT16 } from '../src/dtype.js';
import { GraphBuilder } from '../src/graph/builder.js';
import type { OnnxGraph } from '../src/graph/ir.js';
import { encodeModel } from '../src/graph/onnx-proto.js';
import { buildDecoderGraph, buildEncoderGraph } from '../src/graph/vae-graph.js';
import { VaeRunner } from '../src/vae-runner.js';
import { openVae } from '../src/source/vae-source.js';
import { fixtures, maxAbsDiff, rawLatents } from './helpers/fixtures.js';
import { cli } from './commands/cli.js';

const fx = fixtures();
const lat = rawLatents(fx.path('latents-8x8.npy')).f32;

/** Writes a graph as an exporter would: model.onnx + model.onnx_data, no vaecheck trace points. */
function exportOnnx(dir: string, g: OnnxGraph, fp16 = false): string {
  mkdirSync(dir, { recursive: true });
  let graph = { ...g, traced: [] };
  if (fp16) {
    graph = {
      ...graph,
      initializers: graph.initializers.map((t) => (t.dataType === 1 && !t.internal ? { ...t, dataType: ONNX_FLOAT16, data: float32ToBytes(t.data as Float32Array, 'F16') } : t)),
    };
  }
  const { model, external } = encodeModel(graph, 'model.onnx_data');
  writeFileSync(join(dir, 'model.onnx'), model);
  writeFileSync(join(dir, 'model.onnx_data'), Buffer.concat(external));
  return join(dir, 'model.onnx');
}

test('an ONNX-exported decoder decodes like the weights it came from; its input is detected', async () => {
  const vae = openVae(fx.path('tiny-fp16-safe.safetensors'));
  const file = exportOnnx(join(mkdtempSync(join(tmpdir(), 'vaecheck-onnx-')), 'vae_decoder'), buildDecoderGraph(vae));
  const onnx = openVae(file);
  assert.equal(onnx.onnx?.part, 'decoder');
  assert.equal(onnx.arch.latentChannels, 4);
  const a = await VaeRunner.create(vae, 'decoder');
  const b = await VaeRunner.create(onnx, 'decoder');
  const x = (await a.run(lat)).output;
  const y = (await b.run(lat)).output;
  await a.release();
  await b.release();
  assert.deepEqual(y.shape, x.shape);
  assert.ok(maxAbsDiff(x.data, y.data) <= 1e-6);
  // the folder form (diffusers' vae_decoder/) loads too
  assert.equal(openVae(join(file, '..')).onnx?.part, 'decoder');
});

test('precision and instrumentation passes apply to an ONNX export: nan-scan names the overflowing node', () => {
  const vae = openVae(fx.path('tiny-fp16-overflow.safetensors'));
  const file = exportOnnx(join(mkdtempSync(join(tmpdir(), 'vaecheck-onnx-')), 'vae_decoder'), buildDecoderGraph(vae));
  const r = cli(['nan-scan', '--vae', file, '--latents', fx.path('latents-8x8.npy'), '--json']);
  assert.equal(r.code, 1, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.vaes[0].firstNonFinite, 'decoder.up_blocks.2.resnets.0.conv_shortcut');
  // every float compute op is traced, GroupNorm's pieces and SiLU's sigmoid included
  const names: string[] = j.vaes[0].layers.map((l: { name: string }) => l.name);
  assert.ok(names.includes('decoder.up_blocks.2.resnets.0.norm1/stats'));
  assert.ok(names.includes('decoder.conv_out'));
  // shape arithmetic (int64) is not traced
  assert.ok(!names.some((n) => n.includes('chunk_len')));
  assert.equal(cli(['nan-scan', '--vae', file, '--latents', fx.path('latents-8x8.npy'), '--precision', 'bf16']).code, 0);
});

test('an fp16 ONNX export is upcast and decodes close to the fp32 weights', async () => {
  const vae = openVae(fx.path('tiny-fp16-safe.safetensors'));
  const file = exportOnnx(join(mkdtempSync(join(tmpdir(), 'vaecheck-onnx-')), 'vae_decoder'), buildDecoderGraph(vae), true);
  const onnx = openVae(file);
  const r = await VaeRunner.create(onnx, 'decoder');
  const y = (await r.run(lat)).output;
  await r.release();
  const a = await VaeRunner.create(vae, 'decoder');
  const x = (await a.run(lat)).output;
  await a.release();
  const err = maxAbsDiff(x.data, y.data);
  assert.ok(err > 0 && err < 2e-2, `fp16 weights: max abs difference ${err}`);
});

test('an ONNX encoder export: mean from its moments output; decode needs a decoder', async () => {
  const vae = openVae(fx.path('tiny-fp16-safe.safetensors'));
  const g = buildEncoderGraph(vae);
  // exporters return quant_conv's moments (2L channels) as one output
  const moments = g.nodes.find((n) => n.name === 'quant_conv')!.outputs[0];
  const enc = { ...g, nodes: g.nodes.filter((n) => n.name !== 'mean' && n.name !== 'logvar'), outputs: [{ name: moments, elemType: 1, dims: ['batch', 8, 'h', 'w'] }] };
  const file = exportOnnx(join(mkdtempSync(join(tmpdir(), 'vaecheck-onnx-')), 'vae_encoder'), enc);
  const onnx = openVae(file);
  assert.equal(onnx.onnx?.part, 'encoder');
  const img = { shape: [1, 3, 64, 64], data: new Float32Array(3 * 64 * 64).map((_, i) => Math.sin(i / 7)) };
  const a = await VaeRunner.create(vae, 'encoder');
  const b = await VaeRunner.create(onnx, 'encoder');
  const x = await a.run(img);
  const y = await b.run(img);
  await a.release();
  await b.release();
  assert.ok(maxAbsDiff(x.output.data, y.output.data) <= 1e-6);
  assert.ok(maxAbsDiff(x.logvar!.data, y.logvar!.data) <= 1e-6);
  const r = cli(['decode', '--vae', file, '--latents', fx.path('latents-8x8.npy'), '--out', join(tmpdir(), `x-${process.pid}.npy`)]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /is a VAE encoder exported to ONNX; this needs the decoder/);
});

test('an ONNX file that is not a VAE, and one that is not ONNX, are refused with exit 3', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vaecheck-onnx-'));
  const b = new GraphBuilder('add');
  const x = b.input('x', [2, 3]);
  b.output(b.node('Add', 'y', [x, x]), [2, 3]);
  const file = exportOnnx(join(dir, 'add'), b.build());
  const r = cli(['info', file]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /not a VAE decoder or encoder/);
  const junk = join(dir, 'junk.onnx');
  writeFileSync(junk, Buffer.from('this is not protobuf at all \u0000\u00ff'));
  const r2 = cli(['info', junk]);
  assert.equal(r2.code, 3, r2.stderr);
  assert.equal(r2.stderr.trim().split('\n').length, 1);
});

test('info on an ONNX export: the table and --json both say format, part, input and traced ops', () => {
  const vae = openVae(fx.path('tiny-fp16-safe.safetensors'));
  const dir = join(mkdtempSync(join(tmpdir(), 'vaecheck-onnx-')), 'vae_decoder');
  const g = buildDecoderGraph(vae);
  const file = exportOnnx(dir, g);
  const table = cli(['info', file]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`^format\\s+ONNX decoder \\(opset \\d+\\), input ${g.inputs[0].name}$`, 'm'));
  const r = cli(['info', file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.format, 'onnx');
  assert.equal(j.part, 'decoder');
  assert.equal(j.input, g.inputs[0].name);
  assert.ok(j.tracedOps > 0, `tracedOps ${j.tracedOps}`);
  assert.equal(j.weightsFile, file);
  // a safetensors VAE has no such fields
  const st = JSON.parse(cli(['info', fx.path('tiny-fp16-safe.safetensors'), '--json']).stdout);
  assert.equal(st.format, undefined);
  assert.equal(st.part, undefined);
});
