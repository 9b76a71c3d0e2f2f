// Ops over several tensors: cat, stack, einsum.
import { N } from '../native.js';
import { Tensor } from './tensor.js';

const handles = (op: string, ts: Tensor[]) => {
  if (!Array.isArray(ts)) throw new TypeError(`torch.${op}: expected an array of Tensors`);
  return ts.map((t, i) => {
    if (!(t instanceof Tensor)) throw new TypeError(`torch.${op}: element ${i} is not a Tensor`);
    return t.handle;
  });
};

export const cat = (tensors: Tensor[], dim = 0): Tensor => new Tensor(N.cat(handles('cat', tensors), dim));
export const stack = (tensors: Tensor[], dim = 0): Tensor => new Tensor(N.stack(handles('stack', tensors), dim));
export const einsum = (equation: string, ...tensors: Tensor[]): Tensor => new Tensor(N.einsum(equation, handles('einsum', tensors)));
