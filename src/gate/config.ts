/**
 * Gate thresholds: defaults, then the user's repo config (`vaecheck.config.json`, or the `vaecheck` key
 * of package.json, in the working folder), then flags — each overriding the one before.
 *
 * Defaults, from measurements: fp16 emulation against fp32 of the same VAE gives 55-60+ dB (demo pair
 * 58.9 dB), bf16 about 43 dB; a conv_out bias shifted by 0.035 on one channel (a clearly visible
 * colour cast) gives 40 dB. So 40 dB separates rounding from drift, at fp16 and bf16 alike.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import { jsonProblem, readRegularText } from '../io/safe-path.js';

export interface GateThresholds {
  /** dB; a case fails below it */
  minPsnr: number;
  minSsim: number;
  /** largest allowed fraction of NaN/Inf values in a decode (0: none) */
  maxNan: number;
  /** largest allowed fraction of pixelmatch-mismatched pixels, in percent */
  maxMismatch: number;
}

export const GATE_DEFAULTS: GateThresholds = { minPsnr: 40, minSsim: 0.95, maxNan: 0, maxMismatch: 1 };

/** Why a threshold value cannot be used (a negative NaN fraction, a mismatch above 100%), or undefined. */
export function thresholdProblem(key: keyof GateThresholds, v: number): string | undefined {
  if (!Number.isFinite(v)) return 'must be a finite number';
  if (key === 'maxNan' && !(v >= 0 && v <= 1)) return `must be a fraction between 0 and 1 (or 0% to 100%), got ${v}`;
  if (key === 'maxMismatch' && !(v >= 0 && v <= 100)) return `must be a percentage between 0 and 100, got ${v}`;
  if (key === 'minSsim' && !(v <= 1)) return `must be at most 1 (SSIM of identical images), got ${v}`;
  return undefined;
}

export interface GateConfigFile extends Partial<GateThresholds> {
  precision?: string;
  source: string;
}

/** Reads the gate section from vaecheck.config.json or package.json's `vaecheck` key in `dir`. */
export function readGateConfig(dir: string): GateConfigFile | undefined {
  const own = join(dir, 'vaecheck.config.json');
  const pkg = join(dir, 'package.json');
  let raw: unknown;
  let source: string;
  if (existsSync(own)) {
    source = own;
    raw = parseJson(own);
  } else if (existsSync(pkg)) {
    const p = parseJson(pkg) as Record<string, unknown> | null;
    if (!p || typeof p !== 'object' || !('vaecheck' in p)) return undefined;
    source = `${pkg} (vaecheck)`;
    raw = p.vaecheck;
  } else return undefined;
  const section = raw && typeof raw === 'object' && 'gate' in (raw as object) ? (raw as Record<string, unknown>).gate : raw;
  if (!section || typeof section !== 'object' || Array.isArray(section)) throw new BadInputError(source, 'gate settings must be an object');
  const out: GateConfigFile = { source };
  for (const [k, v] of Object.entries(section as Record<string, unknown>)) {
    if (k === 'precision') {
      if (typeof v !== 'string') throw new BadInputError(source, 'precision must be a string (fp32, bf16 or fp16)');
      out.precision = v;
    } else if (k in GATE_DEFAULTS) {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new BadInputError(source, `${k} must be a number, got ${JSON.stringify(v)?.slice(0, 40)}`);
      const problem = thresholdProblem(k as keyof GateThresholds, v);
      if (problem) throw new BadInputError(source, `${k} ${problem}`);
      out[k as keyof GateThresholds] = v;
    } else throw new BadInputError(source, `unknown gate setting ${JSON.stringify(k)} (known: precision, ${Object.keys(GATE_DEFAULTS).join(', ')})`);
  }
  return out;
}

function parseJson(path: string): unknown {
  const text = readRegularText(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BadInputError(path, jsonProblem(e));
  }
}
