// torch.nn.utils
import { N } from '../native.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * Scales the parameters' gradients in place so their joint `normType` norm is at most
 * `maxNorm` (one native call); returns the norm before clipping.
 */
export function clipGradNorm(
  parameters: Iterable<Tensor>,
  maxNorm: number,
  normType = 2,
  options: { errorIfNonfinite?: boolean } = {},
): number {
  const hs = [...parameters].map((p) => p.handle);
  return N.clipGradNorm(hs, { maxNorm, normType, errorIfNonfinite: options.errorIfNonfinite });
}

/** clipGradNorm on the compute thread (the training step): the JS thread stays free meanwhile. */
export function clipGradNormAsync(
  parameters: Iterable<Tensor>,
  maxNorm: number,
  normType = 2,
  options: { errorIfNonfinite?: boolean } = {},
): Promise<number> {
  const hs = [...parameters].map((p) => p.handle);
  return N.clipGradNormAsync(hs, { maxNorm, normType, errorIfNonfinite: options.errorIfNonfinite });
}
