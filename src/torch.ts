// The `torch` namespace: PyTorch's names, camelCased, over the Tensor class.
import * as creation from './tensor/creation.js';
import * as runtime from './tensor/runtime.js';
import { dispose, keep, tidy } from './tensor/scope.js';
import { Tensor, type TensorOrScalar } from './tensor/tensor.js';
import { N } from './native.js';
import { cat, einsum, stack } from './tensor/join.js';
import * as functional from './nn/functional.js';
import { clipGradNorm, clipGradNormAsync } from './nn/utils.js';
import { AdamW } from './optim/adamw.js';
import { SGD } from './optim/sgd.js';
import { Optimizer } from './optim/optimizer.js';
import type { DType } from './tensor/types.js';

type MethodName = {
  [K in keyof Tensor]: Tensor[K] extends (...args: never[]) => unknown ? K : never;
}[keyof Tensor];
/** `torch.exp(x)` is `x.exp()`: the function form of a Tensor method, with its types. */
function fn<K extends MethodName>(name: K) {
  return (t: Tensor, ...args: Parameters<Tensor[K]>): ReturnType<Tensor[K]> => {
    if (!(t instanceof Tensor))
      throw new TypeError(`torch.${String(name)}: expected a Tensor as first argument, got ${t === null ? 'null' : typeof t}`);
    return (t[name] as (...a: unknown[]) => ReturnType<Tensor[K]>)(...args);
  };
}
/** torch.max / torch.min keep the method's overloads (a generic wrapper would see only the last). */
interface MaxLike {
  (t: Tensor): Tensor;
  (t: Tensor, dim: number, keepdim?: boolean): [Tensor, Tensor];
  (t: Tensor, other: Tensor): Tensor;
}
function maxFn(name: 'max' | 'min'): MaxLike {
  return fn(name) as unknown as MaxLike;
}
export const torch = {
  Tensor,
  // creation
  ...creation,
  // memory
  tidy,
  keep,
  dispose,
  memory: runtime.memory,
  emptyCache: runtime.emptyCache,
  cpuCache: runtime.cpuCache,
  // autograd and runtime
  noGrad: runtime.noGrad,
  noGradAsync: runtime.noGradAsync,
  autocast: runtime.autocast,
  enableGrad: runtime.enableGrad,
  isGradEnabled: runtime.isGradEnabled,
  setGradEnabled: runtime.setGradEnabled,
  manualSeed: runtime.manualSeed,
  getRngState: runtime.getRngState,
  setRngState: runtime.setRngState,
  setNumThreads: runtime.setNumThreads,
  getNumThreads: runtime.getNumThreads,
  cuda: runtime.cuda,
  version: runtime.version,
  // ops of several tensors
  cat,
  stack,
  einsum,
  /** `condition ? input : other`, elementwise. */
  where: (condition: Tensor, input: TensorOrScalar, other: TensorOrScalar): Tensor => {
    if (input instanceof Tensor) return input.where(condition, other);
    if (other instanceof Tensor) return other.where(condition.logicalNot(), input);
    return new Tensor(N.where(condition.handle, input, other));
  },
  // function forms of the methods
  add: fn('add'),
  sub: fn('sub'),
  mul: fn('mul'),
  div: fn('div'),
  pow: fn('pow'),
  remainder: fn('remainder'),
  fmod: fn('fmod'),
  maximum: fn('maximum'),
  minimum: fn('minimum'),
  lerp: fn('lerp'),
  eq: fn('eq'),
  ne: fn('ne'),
  lt: fn('lt'),
  le: fn('le'),
  gt: fn('gt'),
  ge: fn('ge'),
  logicalAnd: fn('logicalAnd'),
  logicalOr: fn('logicalOr'),
  logicalXor: fn('logicalXor'),
  logicalNot: fn('logicalNot'),
  allclose: fn('allclose'),
  equal: fn('equal'),
  neg: fn('neg'),
  exp: fn('exp'),
  log: fn('log'),
  log1p: fn('log1p'),
  expm1: fn('expm1'),
  sqrt: fn('sqrt'),
  rsqrt: fn('rsqrt'),
  tanh: fn('tanh'),
  sigmoid: fn('sigmoid'),
  relu: fn('relu'),
  abs: fn('abs'),
  sign: fn('sign'),
  sin: fn('sin'),
  cos: fn('cos'),
  floor: fn('floor'),
  ceil: fn('ceil'),
  round: fn('round'),
  square: fn('square'),
  reciprocal: fn('reciprocal'),
  erf: fn('erf'),
  isnan: fn('isnan'),
  isinf: fn('isinf'),
  isfinite: fn('isfinite'),
  gelu: fn('gelu'),
  clamp: fn('clamp'),
  sum: fn('sum'),
  mean: fn('mean'),
  prod: fn('prod'),
  var: fn('var'),
  std: fn('std'),
  max: maxFn('max'),
  min: maxFn('min'),
  amax: fn('amax'),
  amin: fn('amin'),
  argmax: fn('argmax'),
  argmin: fn('argmin'),
  logsumexp: fn('logsumexp'),
  norm: fn('norm'),
  all: fn('all'),
  any: fn('any'),
  cumsum: fn('cumsum'),
  softmax: fn('softmax'),
  logSoftmax: fn('logSoftmax'),
  matmul: fn('matmul'),
  bmm: fn('bmm'),
  mm: fn('mm'),
  outer: fn('outer'),
  view: fn('view'),
  reshape: fn('reshape'),
  permute: fn('permute'),
  transpose: fn('transpose'),
  unsqueeze: fn('unsqueeze'),
  squeeze: fn('squeeze'),
  flatten: fn('flatten'),
  split: fn('split'),
  chunk: fn('chunk'),
  narrow: fn('narrow'),
  select: fn('select'),
  flip: fn('flip'),
  index: fn('index'),
  indexSelect: fn('indexSelect'),
  gather: fn('gather'),
  scatter: fn('scatter'),
  scatterAdd: fn('scatterAdd'),
  maskedFill: fn('maskedFill'),
  maskedSelect: fn('maskedSelect'),
  tril: fn('tril'),
  triu: fn('triu'),
  topk: fn('topk'),
  sort: fn('sort'),
  argsort: fn('argsort'),
  multinomial: fn('multinomial'),
  nonzero: fn('nonzero'),
  clone: fn('clone'),
  detach: fn('detach'),
  nn: {
    functional,
    utils: { clipGradNorm, clipGradNormAsync },
  },
  optim: { AdamW, SGD, Optimizer },
  /** dtype names, for `torch.float32` style code. */
  float32: 'float32' as DType,
  float64: 'float64' as DType,
  float16: 'float16' as DType,
  bfloat16: 'bfloat16' as DType,
  int64: 'int64' as DType,
  int32: 'int32' as DType,
  bool: 'bool' as DType,
};
