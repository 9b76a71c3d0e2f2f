// Names of dtypes and devices, as PyTorch spells them.

export const DTYPES = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'bool'] as const;
/** Element types. `uint8`, `int8` and `int16` also exist for byte buffers. */
export type DType = (typeof DTYPES)[number] | 'uint8' | 'int8' | 'int16';
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;
export type Scalar = number | boolean;

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

/** A nested JS array of numbers or booleans, as `tolist()` returns and `tensor()` takes. */
export type NestedArray = number | boolean | NestedArray[];

export const isFloatingDtype = (d: DType): boolean =>
  d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
