/**
 * The layering of the code, checked from the import statements of src/ and commands/ (type imports
 * and re-exports included, since a folder that needs another's types depends on it as much):
 *
 *  - no cycle between folders: each subfolder of src/ is one node, each file directly in src/
 *    (errors.ts, tensor.ts, decode.ts …) is a node of its own, commands/ is one node;
 *  - nothing in src/ imports commands/, and src/ never imports the CLI's packages;
 *  - each heavy dependency is imported by exactly one module (its adapter).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : n.endsWith('.ts') && !n.endsWith('.d.ts') ? [p] : [];
  });
}

/** Every module specifier a file imports or re-exports, `import type` and `export … from` included. */
export function specifiers(source: string): string[] {
  const out: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (let m; (m = re.exec(source)); ) out.push(m[1] ?? m[2]);
  return out;
}

/** The node of a file: its folder under src/, the file itself when directly in src/, or `commands`. */
export function nodeOf(file: string): string {
  const rel = relative(ROOT, file).split('\\').join('/');
  const parts = rel.split('/');
  if (parts[0] === 'src') return parts.length === 2 ? rel : `src/${parts[1]}`;
  return parts[0];
}

interface Edge {
  from: string;
  to: string;
  file: string;
  spec: string;
}

function edges(): { edges: Edge[]; packages: Map<string, string[]> } {
  const out: Edge[] = [];
  const packages = new Map<string, string[]>();
  for (const file of [...tsFiles(join(ROOT, 'src')), ...tsFiles(join(ROOT, 'commands'))]) {
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
        out.push({ from: nodeOf(file), to: nodeOf(target), file: relative(ROOT, file), spec });
      } else if (!spec.startsWith('node:')) {
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        packages.set(pkg, [...(packages.get(pkg) ?? []), relative(ROOT, file)]);
      }
    }
  }
  return { edges: out, packages };
}

/** Strongly connected components with more than one node (Tarjan): the folder cycles. */
export function cycles(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

test('the cycle finder finds a cycle through type imports, and the parser sees every import form', () => {
  const src = `import type { A } from '../a/x.js';\nimport { b } from './b.js';\nexport { c } from '../c/y.js';\nexport * from "./d.js";\nimport '../e/side.js';\nconst f = await import('../f/g.js');`;
  assert.deepEqual(specifiers(src), ['../a/x.js', './b.js', '../c/y.js', './d.js', '../e/side.js', '../f/g.js']);
  const g = new Map([['graph', new Set(['weights'])], ['weights', new Set(['onnx'])], ['onnx', new Set(['graph'])], ['report', new Set(['graph'])]]);
  assert.deepEqual(cycles(g), [['graph', 'onnx', 'weights']]);
  assert.deepEqual(cycles(new Map([['a', new Set(['b'])], ['b', new Set<string>()]])), []);
});

test('no folder import cycles in src/ and commands/ (type imports included)', () => {
  const graph = new Map<string, Set<string>>();
  const { edges: es } = edges();
  for (const e of es) {
    if (e.from === e.to) continue;
    if (!graph.has(e.from)) graph.set(e.from, new Set());
    graph.get(e.from)!.add(e.to);
  }
  const found = cycles(graph);
  const explain = found.map((c) => `${c.join(' <-> ')}: ${es.filter((e) => c.includes(e.from) && c.includes(e.to) && e.from !== e.to).map((e) => `${e.file} -> ${e.spec}`).join(', ')}`);
  assert.deepEqual(explain, []);
});

test('src/ never imports commands/ or the CLI packages; each heavy dependency has one adapter', () => {
  const { edges: es, packages } = edges();
  assert.deepEqual(es.filter((e) => e.from.startsWith('src') && e.to === 'commands').map((e) => e.file), []);
  for (const cliPkg of ['@oclif/core', 'chalk', 'cli-progress']) {
    assert.deepEqual((packages.get(cliPkg) ?? []).filter((f) => f.startsWith('src')), [], `${cliPkg} imported in src/`);
  }
  const adapters: Record<string, string> = {
    'onnxruntime-node': 'src/runtime/session.ts',
    sharp: 'src/images/sharp-io.ts',
    pixelmatch: 'src/images/pixel-diff.ts',
    protobufjs: 'src/graph/onnx-proto.ts',
    vega: 'src/report/activation-plot.ts',
    'vega-lite': 'src/report/activation-plot.ts',
    '@huggingface/hub': 'src/hub/hub-api.ts',
  };
  for (const [pkg, file] of Object.entries(adapters)) assert.deepEqual(packages.get(pkg), [file], pkg);
});
