/**
 * The sharded-gate workflows users copy: examples/github-actions-sharded-gate.yml and the GitLab CI
 * snippet in README.md parse as YAML (the `yaml` package), are wired as described (a matrix of shard
 * jobs uploading their folders, a merge job downloading them all), and their vaecheck commands work:
 * they are run here as the CI would run them (matrix values and CI variables substituted, artifacts laid
 * out as the download step lays them out) on a tiny VAE, and the merge exits 1 on a NaN candidate and
 * 0 on the recorded one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { fixtures } from './helpers/fixtures.js';
import { CLI_BIN, cli, cliEnv } from './commands/cli.js';

const REPO = new URL('..', import.meta.url).pathname;
const WORKFLOW = join(REPO, 'examples', 'github-actions-sharded-gate.yml');
const fx = fixtures();
const root = mkdtempSync(join(tmpdir(), 'vaecheck-workflow-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

interface Step { name?: string; uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string>; if?: string; 'working-directory'?: string }
interface Job { needs?: string | string[]; if?: string; strategy?: { matrix: Record<string, unknown[]>; 'fail-fast'?: boolean }; steps: Step[] }

/** A project folder as the workflow sees it: a committed baseline of `vae/`, and the candidate in `vae/`. */
function project(candidate: string): string {
  const dir = mkdtempSync(join(root, 'project-'));
  mkdirSync(join(dir, 'vae'));
  copyFileSync(fx.path('tiny-fp16-safe.safetensors'), join(dir, 'vae', 'diffusion_pytorch_model.safetensors'));
  const r = cli(['baseline', '--vae', 'vae', '--random', '--seed', '0', '--batch', '5', '--size', '8x8', '--out', 'vae-baseline'], {}, { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  copyFileSync(candidate, join(dir, 'vae', 'diffusion_pytorch_model.safetensors'));
  return dir;
}

/** Runs a `run:` / `script:` line as the CI's shell would, with vaecheck at .vaecheck/bin/run.js being this checkout. */
function sh(dir: string, command: string, env: Record<string, string> = {}) {
  const line = command.replace(/node \.vaecheck\/bin\/run\.js/g, `node ${JSON.stringify(CLI_BIN)}`).replace(/\n/g, ' ');
  return spawnSync('bash', ['-c', line], { cwd: dir, encoding: 'utf8', env: cliEnv({ CI_NODE_INDEX: '', CI_NODE_TOTAL: '', CIRCLE_NODE_INDEX: '', BUILDKITE_PARALLEL_JOB: '', JOB_COMPLETION_INDEX: '', ...env }) });
}

test('the GitHub Actions example parses and is wired: shard matrix -> artifacts -> merge job that fails on drift', () => {
  const docs = parseAllDocuments(readFileSync(WORKFLOW, 'utf8'));
  assert.equal(docs.length, 1);
  assert.deepEqual(docs[0].errors, []);
  const wf = parse(readFileSync(WORKFLOW, 'utf8')) as { on: unknown; jobs: Record<string, Job>; env: Record<string, string> };
  assert.ok(wf.on);
  const shardJob = wf.jobs['gate-shard'];
  const merge = wf.jobs.merge;
  const shardsList = shardJob.strategy!.matrix.shard;
  assert.deepEqual(shardsList, Array.from({ length: shardsList.length }, (_, i) => i + 1), 'the matrix lists 1..n');
  assert.equal(shardJob.strategy!['fail-fast'], false);
  const gate = shardJob.steps.find((s) => s.run?.includes(' gate '))!;
  assert.match(gate.run!, /--shard \$\{\{ matrix\.shard \}\}\/\$\{\{ strategy\.job-total \}\} --out shards\/shard-\$\{\{ matrix\.shard \}\}/);
  const upload = shardJob.steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'))!;
  assert.equal(upload.if, 'always()');
  assert.equal(upload.with!.path, 'shards/shard-${{ matrix.shard }}');
  assert.equal(upload.with!.name, 'vaecheck-shard-${{ matrix.shard }}');
  assert.equal(merge.needs, 'gate-shard');
  assert.match(merge.if!, /!cancelled\(\)/);
  const download = merge.steps.find((s) => s.uses?.startsWith('actions/download-artifact@'))!;
  assert.equal(download.with!.pattern, 'vaecheck-shard-*');
  const mergeStep = merge.steps.find((s) => s.run?.includes(' merge '))!;
  assert.match(mergeStep.run!, new RegExp(`merge ${download.with!.path}/vaecheck-shard-\\* --out \\S+ --junit reports/vaecheck.xml`));
  // vaecheck is built from its repository in both jobs, without the CUDA download
  for (const job of [shardJob, merge]) {
    const install = job.steps.find((s) => s.run?.includes('npm ci'))!;
    assert.equal(install.run!.trim(), 'npm ci && npm run build');
    assert.equal(install.env!.ONNXRUNTIME_NODE_INSTALL, 'skip');
    assert.equal(install['working-directory'], '.vaecheck');
    assert.ok(job.steps.some((s) => s.uses?.startsWith('actions/checkout@') && s.with?.path === '.vaecheck'));
  }
});

for (const [name, candidate, code] of [['recorded VAE', 'tiny-fp16-safe.safetensors', 0], ['NaN candidate', 'tiny-fp16-overflow.safetensors', 1]] as const) {
  test(`the GitHub Actions example's commands, run as its jobs would (${name}): merge exits ${code}`, () => {
    const wf = parse(readFileSync(WORKFLOW, 'utf8')) as { jobs: Record<string, Job> };
    const shardJob = wf.jobs['gate-shard'];
    const n = shardJob.strategy!.matrix.shard.length;
    const gate = shardJob.steps.find((s) => s.run?.includes(' gate '))!.run!;
    const dir = project(fx.path(candidate));
    for (let i = 1; i <= n; i++) {
      const r = sh(dir, gate.replaceAll('${{ matrix.shard }}', String(i)).replaceAll('${{ strategy.job-total }}', String(n)));
      assert.ok(r.status === 0 || r.status === code, r.stderr);
      // download-artifact with a pattern puts each artifact in its own folder named after it
      cpSync(join(dir, 'shards', `shard-${i}`), join(dir, 'downloaded', `vaecheck-shard-${i}`), { recursive: true });
    }
    const mergeRun = wf.jobs.merge.steps.find((s) => s.run?.includes(' merge '))!.run!.replace(/^(.*merge )shards\//, '$1downloaded/');
    const m = sh(dir, mergeRun);
    assert.equal(m.status, code, m.stdout + m.stderr);
    const xml = readFileSync(join(dir, 'reports', 'vaecheck.xml'), 'utf8');
    assert.equal((xml.match(/<testcase /g) ?? []).length, 5);
  });
}

test('the GitLab CI snippet in README.md parses and its scripts work under CI_NODE_INDEX/CI_NODE_TOTAL', () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 2);
  for (const b of blocks) assert.deepEqual(parseAllDocuments(b)[0].errors, [], b.slice(0, 60));
  const gitlab = blocks.map((b) => parse(b) as Record<string, { parallel?: number; script?: string[]; needs?: string[]; artifacts?: { paths?: string[] } }>).find((y) => y['vae-gate']?.parallel)!;
  assert.ok(gitlab, 'README has the GitLab snippet');
  const shard = gitlab['vae-gate'];
  const merge = gitlab['vae-gate-merge'];
  assert.deepEqual(merge.needs, ['vae-gate']);
  assert.deepEqual(shard.artifacts!.paths, ['shards/']);
  const dir = project(fx.path('tiny-fp16-overflow.safetensors'));
  for (let i = 1; i <= shard.parallel!; i++) {
    for (const line of shard.script!) {
      const r = sh(dir, line.replaceAll('$CI_NODE_INDEX', String(i)), { CI_NODE_INDEX: String(i), CI_NODE_TOTAL: String(shard.parallel) });
      assert.match(r.stderr, new RegExp(`shard ${i}/${shard.parallel} \\(from GitLab CI`));
    }
  }
  assert.deepEqual(readdirSync(join(dir, 'shards')).sort(), Array.from({ length: shard.parallel! }, (_, i) => `shard-${i + 1}`));
  const m = sh(dir, merge.script![0]);
  assert.equal(m.status, 1, m.stdout + m.stderr);
  assert.ok(existsSync(join(dir, 'reports', 'vaecheck.xml')));
});
