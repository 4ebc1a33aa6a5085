/** Encodes tensors as a safetensors file (header padded to 8 bytes, tensors in the given order). */
import { type DTypeName, DTYPES } from '../dtype.js';

export interface TensorBytes {
  name: string;
  dtype: DTypeName;
  shape: readonly number[];
  bytes: Uint8Array;
}

export function encodeSafetensors(tensors: readonly TensorBytes[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, d) => a * d, 1);
    if (n * DTYPES[t.dtype].bytes !== t.bytes.byteLength) throw new Error(`internal: ${t.name} has ${t.bytes.byteLength} bytes for shape [${t.shape}] ${t.dtype}`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    offset += t.bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let p = 8 + headerBytes.length;
  for (const t of tensors) {
    out.set(t.bytes, p);
    p += t.bytes.byteLength;
  }
  return out;
}
