/**
 * One frozen table ties each storage dtype to its safetensors name, its ONNX TensorProto type and
 * its byte size, plus the float16 / bfloat16 bit conversions (round-to-nearest-even) used for
 * reading weights and for emulating reduced precision.
 */

export type DTypeName = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface DTypeInfo {
  /** safetensors name */
  readonly name: DTypeName;
  /** ONNX TensorProto.DataType */
  readonly onnx: number;
  readonly bytes: number;
  /** can be read as VAE weights (converted to float32) */
  readonly float: boolean;
}

export const DTYPES: Readonly<Record<DTypeName, DTypeInfo>> = Object.freeze({
  F64: { name: 'F64', onnx: 11, bytes: 8, float: true },
  F32: { name: 'F32', onnx: 1, bytes: 4, float: true },
  F16: { name: 'F16', onnx: 10, bytes: 2, float: true },
  BF16: { name: 'BF16', onnx: 16, bytes: 2, float: true },
  I64: { name: 'I64', onnx: 7, bytes: 8, float: false },
  I32: { name: 'I32', onnx: 6, bytes: 4, float: false },
  I16: { name: 'I16', onnx: 5, bytes: 2, float: false },
  I8: { name: 'I8', onnx: 3, bytes: 1, float: false },
  U8: { name: 'U8', onnx: 2, bytes: 1, float: false },
  BOOL: { name: 'BOOL', onnx: 9, bytes: 1, float: false },
});

export const ONNX_FLOAT = DTYPES.F32.onnx;
export const ONNX_FLOAT16 = DTYPES.F16.onnx;
export const ONNX_BFLOAT16 = DTYPES.BF16.onnx;
export const ONNX_INT64 = DTYPES.I64.onnx;
export const ONNX_BOOL = DTYPES.BOOL.onnx;
export const ONNX_DOUBLE = DTYPES.F64.onnx;

export function isDTypeName(s: string): s is DTypeName {
  return Object.prototype.hasOwnProperty.call(DTYPES, s);
}

/** The precisions vaecheck decodes in. */
export type Precision = 'fp32' | 'bf16' | 'fp16';
export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16', 'fp16'];

/** Largest finite value of each precision, the ceiling activations are measured against. */
export const MAX_FINITE: Readonly<Record<Precision, number>> = Object.freeze({
  fp32: 3.4028234663852886e38,
  bf16: 3.3895313892515355e38,
  fp16: 65504,
});

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float16 bits -> float32 value, as a 65536-entry table (256 KiB) built once. */
const F16_TABLE: Float32Array = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = sign * m * 2 ** -24;
    else if (e === 31) t[h] = m ? NaN : sign * Infinity;
    else t[h] = sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

export function f16BitsToFloat(h: number): number {
  return F16_TABLE[h & 0xffff];
}

/** float32 value -> float16 bits, round to nearest, ties to even; overflow gives ±Inf. */
export function floatToF16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const e = (x >>> 23) & 0xff;
  const m = x & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);
  const exp = e - 127 + 15;
  if (exp >= 0x1f) return sign | 0x7c00;
  if (exp <= 0) {
    // subnormal half (or zero): shift the full significand right and round
    if (exp < -10) return sign;
    const full = m | 0x800000;
    const shift = 14 - exp;
    let half = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (exp << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  // a carry out of the mantissa correctly bumps the exponent, up to Inf (0x7c00)
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function bf16BitsToFloat(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}

/** float32 value -> bfloat16 bits, round to nearest, ties to even; NaN stays a quiet NaN. */
export function floatToBf16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) & 0xffff) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Rounds float32 data in place to the values representable in `precision`. */
export function roundInPlace(data: Float32Array, precision: Precision): Float32Array {
  if (precision === 'fp16') {
    for (let i = 0; i < data.length; i++) data[i] = F16_TABLE[floatToF16Bits(data[i])];
  } else if (precision === 'bf16') {
    const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
    for (let i = 0; i < bits.length; i++) {
      const x = bits[i];
      if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) continue; // NaN
      bits[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) << 16;
    }
  }
  return data;
}

/** Decodes little-endian raw bytes of a float dtype into float32. */
export function bytesToFloat32(bytes: Uint8Array, dtype: DTypeName): Float32Array {
  const n = bytes.byteLength / DTYPES[dtype].bytes;
  // copy first so the typed-array view is aligned whatever the file offset was
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  switch (dtype) {
    case 'F32':
      return new Float32Array(copy.buffer, 0, n);
    case 'F64':
      return Float32Array.from(new Float64Array(copy.buffer, 0, n));
    case 'F16': {
      const h = new Uint16Array(copy.buffer, 0, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = F16_TABLE[h[i]];
      return out;
    }
    case 'BF16': {
      const h = new Uint16Array(copy.buffer, 0, n);
      const out = new Float32Array(n);
      const o = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) o[i] = h[i] << 16;
      return out;
    }
    default:
      throw new Error(`bytesToFloat32: ${dtype} is not a float dtype`);
  }
}

/** Encodes float32 data as little-endian bytes of a float dtype (rounding to nearest even). */
export function float32ToBytes(data: Float32Array, dtype: DTypeName): Uint8Array {
  switch (dtype) {
    case 'F32':
      return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    case 'F64':
      return new Uint8Array(Float64Array.from(data).buffer);
    case 'F16': {
      const out = new Uint16Array(data.length);
      for (let i = 0; i < data.length; i++) out[i] = floatToF16Bits(data[i]);
      return new Uint8Array(out.buffer);
    }
    case 'BF16': {
      const out = new Uint16Array(data.length);
      for (let i = 0; i < data.length; i++) out[i] = floatToBf16Bits(data[i]);
      return new Uint8Array(out.buffer);
    }
    default:
      throw new Error(`float32ToBytes: ${dtype} is not a float dtype`);
  }
}
