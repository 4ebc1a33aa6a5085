/**
 * Key naming conventions of AutoencoderKL checkpoints, and the mapping of each to vaecheck's one
 * internal naming: diffusers' modern names (`decoder.up_blocks.0.resnets.1.conv2.weight`,
 * `decoder.mid_block.attentions.0.to_q.weight` as a [C, C] Linear weight).
 *
 * - diffusers: the internal naming itself.
 * - diffusers-legacy-attention: older diffusers files, attention as `query/key/value/proj_attn`.
 * - original: Stability's sgm/ldm naming (`decoder.up.3.block.0`, `nin_shortcut`, `mid.attn_1.q`
 *   with 1x1-conv weights [C, C, 1, 1], `norm_out`); the decoder's up index is REVERSED.
 */

export type Naming = 'diffusers' | 'diffusers-legacy-attention' | 'original';

/** Detects the naming of un-prefixed keys. */
export function detectNaming(keys: Iterable<string>): Naming {
  let legacy = false;
  for (const k of keys) {
    if (/^(encoder\.down\.\d+\.|decoder\.up\.\d+\.|(en|de)coder\.mid\.|(en|de)coder\.norm_out\.)/.test(k)) return 'original';
    if (/\.attentions\.\d+\.(query|key|value|proj_attn)\./.test(k)) legacy = true;
  }
  return legacy ? 'diffusers-legacy-attention' : 'diffusers';
}

const LEGACY_ATTENTION: Record<string, string> = { query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0' };
const ORIGINAL_ATTENTION: Record<string, string> = { norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' };
const ORIGINAL_RESNET_PART: Record<string, string> = { nin_shortcut: 'conv_shortcut' };

/**
 * Maps one un-prefixed key to the internal naming; null when the key is not part of an
 * AutoencoderKL (such keys are ignored by the loader).
 * @param upLevels number of decoder up levels, needed to reverse the original naming's up index
 */
export function toInternalKey(key: string, naming: Naming, upLevels: number): string | null {
  if (naming === 'diffusers') return key;
  if (naming === 'diffusers-legacy-attention') {
    return key.replace(/(\.attentions\.\d+\.)(query|key|value|proj_attn)\./, (_, a: string, b: string) => `${a}${LEGACY_ATTENTION[b]}.`);
  }
  let m: RegExpMatchArray | null;
  if ((m = key.match(/^encoder\.down\.(\d+)\.block\.(\d+)\.(\w+)\.(weight|bias)$/))) {
    return `encoder.down_blocks.${m[1]}.resnets.${m[2]}.${ORIGINAL_RESNET_PART[m[3]] ?? m[3]}.${m[4]}`;
  }
  if ((m = key.match(/^encoder\.down\.(\d+)\.downsample\.conv\.(weight|bias)$/))) {
    return `encoder.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}`;
  }
  if ((m = key.match(/^decoder\.up\.(\d+)\.block\.(\d+)\.(\w+)\.(weight|bias)$/))) {
    return `decoder.up_blocks.${upLevels - 1 - Number(m[1])}.resnets.${m[2]}.${ORIGINAL_RESNET_PART[m[3]] ?? m[3]}.${m[4]}`;
  }
  if ((m = key.match(/^decoder\.up\.(\d+)\.upsample\.conv\.(weight|bias)$/))) {
    return `decoder.up_blocks.${upLevels - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}`;
  }
  if ((m = key.match(/^(encoder|decoder)\.mid\.block_([12])\.(\w+)\.(weight|bias)$/))) {
    return `${m[1]}.mid_block.resnets.${Number(m[2]) - 1}.${ORIGINAL_RESNET_PART[m[3]] ?? m[3]}.${m[4]}`;
  }
  if ((m = key.match(/^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(weight|bias)$/))) {
    return `${m[1]}.mid_block.attentions.0.${ORIGINAL_ATTENTION[m[2]]}.${m[3]}`;
  }
  if ((m = key.match(/^(encoder|decoder)\.norm_out\.(weight|bias)$/))) return `${m[1]}.conv_norm_out.${m[2]}`;
  if (/^((encoder|decoder)\.conv_(in|out)|quant_conv|post_quant_conv)\.(weight|bias)$/.test(key)) return key;
  return null;
}

/** Counts the decoder's up levels in un-prefixed keys of any naming (0 when there is no decoder). */
export function countUpLevels(keys: Iterable<string>): number {
  let max = -1;
  for (const k of keys) {
    const m = k.match(/^decoder\.up(?:_blocks)?\.(\d+)\./);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

/** Known key prefixes of VAE weights inside other files. */
export const KNOWN_PREFIXES = ['first_stage_model.', 'vae.', 'model.'];

/**
 * Finds the prefix under which a VAE's keys live (e.g. `first_stage_model.` in a whole SD
 * checkpoint), from where `decoder.conv_in.weight` or `encoder.conv_in.weight` sits.
 * Returns null when no VAE key is present.
 */
export function findPrefix(keys: Iterable<string>): string | null {
  const found: string[] = [];
  for (const k of keys) {
    const m = k.match(/^(.*?)(?:decoder|encoder)\.conv_in\.weight$/);
    if (m) found.push(m[1]);
  }
  if (found.length === 0) return null;
  // prefer no prefix, then a known one: a whole checkpoint may also hold other conv_in keys
  found.sort((a, b) => rank(a) - rank(b) || a.length - b.length);
  return found[0];
}

function rank(prefix: string): number {
  if (prefix === '') return 0;
  const i = KNOWN_PREFIXES.indexOf(prefix);
  return i >= 0 ? 1 + i : 10;
}
