// Names of dtypes and devices, as PyTorch spells them.

export const DTYPES = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'bool'] as const;
/** Element types. `uint8`, `int8` and `int16` also exist for byte buffers. */
export type DType = (typeof DTYPES)[number] | 'uint8' | 'int8' | 'int16';

/** Bytes per element of each dtype (PyTorch's element_size()). */
export const ITEM_SIZE: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};
/** bfloat16 and float16: a frozen base may be held in them, weights that train are not (see trainingDtype). */
export const isHalfDtype = (d: DType): boolean => d === 'bfloat16' || d === 'float16';

/**
 * The dtype of weights that train beside a frozen base held in `base`: float32 on a half-precision
 * base (PEFT's autocast_adapter_dtype; AdamW here keeps no float32 master copy of bf16 weights),
 * else the base's own. LoRA adapters and the reward and value heads are made in it.
 */
export const trainingDtype = (base: DType): DType => (isHalfDtype(base) ? 'float32' : base);

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

/** A device name as the type says ('cpu', 'cuda', 'cuda:N'), or 'auto' where `auto` allows; anything else is an error naming `what`. */
export function parseDevice(value: unknown, what: string, auto: true): Device | 'auto';
export function parseDevice(value: unknown, what: string, auto?: false): Device;
export function parseDevice(value: unknown, what: string, auto = false): Device | 'auto' {
  if (typeof value === 'string' && (value === 'cpu' || /^cuda(:\d+)?$/.test(value) || (auto && value === 'auto')))
    return value as Device | 'auto';
  throw new Error(`${what} must be ${auto ? "'auto', " : ''}'cpu', 'cuda' or 'cuda:N', got ${JSON.stringify(value)}`);
}
export type Scalar = number | boolean;

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

/** A nested JS array of numbers or booleans, as `tolist()` returns and `tensor()` takes. */
export type NestedArray = number | boolean | NestedArray[];

export const isFloatingDtype = (d: DType): boolean => d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
