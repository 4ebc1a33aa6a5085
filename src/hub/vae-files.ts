/**
 * Which files of a Hub repo make a VAE, chosen from a list of the repo's paths (the Hub's listing,
 * or what a cached snapshot holds). In order of preference:
 *
 *  1. the diffusers layout in the subfolder: `config.json` + `diffusion_pytorch_model.safetensors`
 *     (with a variant, `diffusion_pytorch_model.<variant>.safetensors`; the other one when that is
 *     missing, as diffusers' folder loading does);
 *  2. with no subfolder given, the same in `vae/` (a whole pipeline repo such as
 *     stabilityai/stable-diffusion-xl-base-1.0);
 *  3. a single-file VAE directly in the subfolder: its only .safetensors file, or the only one whose
 *     name says vae (e.g. `sdxl_vae.safetensors`);
 *  4. a subfolder that names a .safetensors file: that file.
 */

export type VaeFiles =
  | {
      kind: 'diffusers';
      /** folder inside the repo ('' for the root) */
      dir: string;
      /** repo paths to fetch: config.json and the weights */
      files: string[];
      weights: string;
      /** the weights are not the ones the variant asked for (e.g. fp16 weights with no --variant) */
      fallback: boolean;
    }
  | { kind: 'single'; dir: string; files: string[]; weights: string; fallback: false }
  | { kind: 'none'; reason: string };

const join = (dir: string, name: string) => (dir ? `${dir}/${name}` : name);

/** Names directly inside `dir` (no deeper). */
function namesIn(paths: readonly string[], dir: string): string[] {
  const prefix = dir ? `${dir}/` : '';
  return paths.filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).map((p) => p.slice(prefix.length));
}

function diffusersIn(paths: readonly string[], dir: string, variant?: string): VaeFiles | null {
  const names = namesIn(paths, dir);
  if (!names.includes('config.json')) return null;
  const wanted = variant ? `diffusion_pytorch_model.${variant}.safetensors` : 'diffusion_pytorch_model.safetensors';
  const other = variant ? 'diffusion_pytorch_model.safetensors' : 'diffusion_pytorch_model.fp16.safetensors';
  const weights = names.includes(wanted) ? wanted : names.includes(other) ? other : undefined;
  if (!weights) return null;
  return { kind: 'diffusers', dir, files: [join(dir, 'config.json'), join(dir, weights)], weights: join(dir, weights), fallback: weights !== wanted };
}

export function chooseVaeFiles(paths: readonly string[], subfolder: string, variant?: string, repo = '<repo>'): VaeFiles {
  const where = subfolder ? `in ${subfolder}/` : 'at the repo root';
  if (/\.safetensors$/i.test(subfolder)) {
    if (paths.includes(subfolder)) {
      const dir = subfolder.includes('/') ? subfolder.slice(0, subfolder.lastIndexOf('/')) : '';
      return { kind: 'single', dir, files: [subfolder], weights: subfolder, fallback: false };
    }
    return { kind: 'none', reason: `has no file ${subfolder}` };
  }
  const d = diffusersIn(paths, subfolder, variant) ?? (subfolder === '' ? diffusersIn(paths, 'vae', variant) : null);
  if (d) return d;
  const names = namesIn(paths, subfolder);
  const st = names.filter((n) => /\.safetensors$/i.test(n));
  let pick = st.length === 1 ? st : st.filter((n) => /vae/i.test(n));
  if (pick.length !== 1) {
    // diffusers weights without their config.json: the variant's (the architecture is read from shapes)
    const w = [variant && `diffusion_pytorch_model.${variant}.safetensors`, 'diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'].find((n) => n && names.includes(n));
    if (w) pick = [w];
  }
  if (pick.length === 1) return { kind: 'single', dir: subfolder, files: [join(subfolder, pick[0])], weights: join(subfolder, pick[0]), fallback: false };
  if (pick.length > 1 || st.length > 1) {
    const shown = (pick.length > 1 ? pick : st).slice(0, 3).join(', ');
    return { kind: 'none', reason: `holds several .safetensors files ${where} (${shown}); name one, e.g. hf:${repo}/${join(subfolder, (pick.length > 1 ? pick : st)[0])}` };
  }
  const pickles = names.filter((n) => /\.(bin|ckpt|pt|pth)$/i.test(n));
  if (pickles.length > 0) {
    return { kind: 'none', reason: `has no VAE weights in .safetensors ${where}, only pickle files (${pickles.slice(0, 3).join(', ')}), which vaecheck does not read` };
  }
  return {
    kind: 'none',
    reason: `has no VAE weights ${where} (looked for config.json with diffusion_pytorch_model${variant ? `.${variant}` : ''}.safetensors${subfolder ? '' : ', the same in vae/'}, or a single .safetensors file)`,
  };
}
