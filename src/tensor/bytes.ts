// Raw bytes in and out of tensors, for file formats (safetensors). Kept out of the `torch`
// namespace: these reinterpret memory, which user code rarely should.
import { N } from '../native.js';
import { Tensor } from './tensor.js';
import type { DType, Device } from './types.js';

/** A tensor from raw bytes of the given dtype (e.g. read from a file). */
export function fromBytes(bytes: Uint8Array, dtype: DType, shape: number[], device?: Device): Tensor {
  return new Tensor(N.fromBuffer(bytes, shape, dtype, dtype, device ?? null));
}

/** The raw little-endian bytes of a tensor in its own dtype (C order, copied to the CPU). */
export function toBytes(t: Tensor): Uint8Array {
  return N.toBuffer(t.handle, true) as Uint8Array;
}
