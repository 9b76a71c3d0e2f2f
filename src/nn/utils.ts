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
