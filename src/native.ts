// The one place that loads the compiled addon and declares its interface. Nothing else in
// src/ imports the .node file. Loading follows node-gyp-build's conventions: a matching
// prebuild in prebuilds/<platform>-<arch>/ first, then build/Release.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync, statSync } from 'node:fs';

/** Opaque reference to one libtorch tensor, owned by a `Tensor`. */
export interface Handle {
  readonly __handle: unique symbol;
}
type H = Handle;
type HOrNum = Handle | number | boolean;
type Opt<T> = T | null | undefined;

export interface TensorInfo {
  dtype: string;
  device: string;
  requiresGrad: boolean;
  isLeaf: boolean;
  gradFn: string | null;
}

export interface NativeAddon {
  // creation and reading
  fromBuffer(data: ArrayBufferView, shape: number[], srcDtype?: Opt<string>, dtype?: Opt<string>, device?: Opt<string>): H;
  toBuffer(t: H, raw?: boolean): Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array;
  item(t: H): number | boolean;
  shape(t: H): number[];
  info(t: H): TensorInfo;
  dtype(t: H): string;
  device(t: H): string;
  numel(t: H): number;
  dispose(t: H): void;
  isDisposed(t: H): boolean;
  zeros(shape: number[], dtype?: Opt<string>, device?: Opt<string>): H;
  ones(shape: number[], dtype?: Opt<string>, device?: Opt<string>): H;
  empty(shape: number[], dtype?: Opt<string>, device?: Opt<string>): H;
  full(shape: number[], value: number | boolean, dtype?: Opt<string>, device?: Opt<string>): H;
  arange(start: number, end: number, step: number, dtype?: Opt<string>, device?: Opt<string>): H;
  eye(n: number, m: number, dtype?: Opt<string>, device?: Opt<string>): H;
  rand(shape: number[], dtype?: Opt<string>, device?: Opt<string>): H;
  randn(shape: number[], dtype?: Opt<string>, device?: Opt<string>): H;
  randint(low: number, high: number, shape: number[], dtype?: Opt<string>, device?: Opt<string>): H;
  randperm(n: number, dtype?: Opt<string>, device?: Opt<string>): H;
  // conversion, views, indexing
  to(t: H, dtype?: Opt<string>, device?: Opt<string>, copy?: boolean): H;
  clone(t: H): H;
  detach(t: H): H;
  contiguous(t: H): H;
  alias(t: H): H;
  view(t: H, shape: number[]): H;
  reshape(t: H, shape: number[]): H;
  permute(t: H, dims: number[]): H;
  transpose(t: H, d0: number, d1: number): H;
  unsqueeze(t: H, dim: number): H;
  squeeze(t: H, dim?: Opt<number>): H;
  flatten(t: H, start: number, end: number): H;
  expand(t: H, shape: number[]): H;
  repeat(t: H, reps: number[]): H;
  split(t: H, sizes: number | number[], dim: number): H[];
  chunk(t: H, n: number, dim: number): H[];
  cat(ts: H[], dim: number): H;
  stack(ts: H[], dim: number): H;
  narrow(t: H, dim: number, start: number, length: number): H;
  select(t: H, dim: number, index: number): H;
  slice(t: H, dim: number, start: Opt<number>, end: Opt<number>, step: number): H;
  flip(t: H, dims: number[]): H;
  index(t: H, indices: (H | null)[]): H;
  indexPut_(t: H, indices: (H | null)[], values: HOrNum, accumulate: boolean): H;
  indexSelect(t: H, dim: number, index: H): H;
  gather(t: H, dim: number, index: H): H;
  scatter(t: H, dim: number, index: H, src: HOrNum): H;
  scatterAdd(t: H, dim: number, index: H, src: H): H;
  maskedFill(t: H, mask: H, value: HOrNum): H;
  maskedSelect(t: H, mask: H): H;
  tril(t: H, k: number): H;
  triu(t: H, k: number): H;
  topk(t: H, k: number, dim: number, largest: boolean, sorted: boolean): [H, H];
  sort(t: H, dim: number, descending: boolean, stable: boolean): [H, H];
  argsort(t: H, dim: number, descending: boolean): H;
  multinomial(t: H, n: number, replacement: boolean): H;
  nonzero(t: H): H;
  // in place (return their first argument)
  copy_(t: H, src: H): H;
  zero_(t: H): H;
  fill_(t: H, v: HOrNum): H;
  add_(t: H, o: HOrNum, alpha?: number): H;
  sub_(t: H, o: HOrNum, alpha?: number): H;
  mul_(t: H, o: HOrNum): H;
  div_(t: H, o: HOrNum): H;
  pow_(t: H, o: HOrNum): H;
  clamp_(t: H, min: Opt<number>, max: Opt<number>): H;
  maskedFill_(t: H, mask: H, v: HOrNum): H;
  uniform_(t: H, a: number, b: number): H;
  normal_(t: H, mean: number, std: number): H;
  // autograd
  backward(t: H, grad: Opt<H>, retainGraph: Opt<boolean>, createGraph: boolean): void;
  grad(t: H): H | null;
  gradIfChanged(t: H, cached: Opt<H>): H | null | undefined;
  setGrad(t: H, g: Opt<H>): void;
  setRequiresGrad(t: H, flag: boolean): H;
  retainGrad(t: H): void;
  setGradEnabled(flag: boolean): boolean;
  isGradEnabled(): boolean;
  // math
  add(a: H, b: HOrNum, alpha?: number): H;
  sub(a: H, b: HOrNum, alpha?: number): H;
  mul(a: H, b: HOrNum): H;
  div(a: H, b: HOrNum, roundingMode?: Opt<string>): H;
  pow(a: H, b: HOrNum): H;
  remainder(a: H, b: HOrNum): H;
  fmod(a: H, b: HOrNum): H;
  eq(a: H, b: HOrNum): H;
  ne(a: H, b: HOrNum): H;
  lt(a: H, b: HOrNum): H;
  le(a: H, b: HOrNum): H;
  gt(a: H, b: HOrNum): H;
  ge(a: H, b: HOrNum): H;
  maximum(a: H, b: H): H;
  minimum(a: H, b: H): H;
  logicalAnd(a: H, b: H): H;
  logicalOr(a: H, b: H): H;
  logicalXor(a: H, b: H): H;
  allclose(a: H, b: H, rtol: number, atol: number): boolean;
  equal(a: H, b: H): boolean;
  gelu(a: H, approximate: string): H;
  clamp(a: H, min: Opt<HOrNum>, max: Opt<HOrNum>): H;
  where(c: H, a: HOrNum, b: HOrNum): H;
  lerp(a: H, b: H, w: HOrNum): H;
  sum(a: H, dims: Opt<number[]>, keepdim: boolean, dtype?: Opt<string>): H;
  mean(a: H, dims: Opt<number[]>, keepdim: boolean, dtype?: Opt<string>): H;
  prod(a: H, dim: Opt<number>, keepdim: boolean): H;
  var(a: H, dims: Opt<number[]>, keepdim: boolean, unbiased: boolean): H;
  std(a: H, dims: Opt<number[]>, keepdim: boolean, unbiased: boolean): H;
  max(a: H): H;
  max(a: H, dim: number, keepdim: boolean): [H, H];
  min(a: H): H;
  min(a: H, dim: number, keepdim: boolean): [H, H];
  amax(a: H, dims: Opt<number[]>, keepdim: boolean): H;
  amin(a: H, dims: Opt<number[]>, keepdim: boolean): H;
  argmax(a: H, dim: Opt<number>, keepdim: boolean): H;
  argmin(a: H, dim: Opt<number>, keepdim: boolean): H;
  logsumexp(a: H, dims: Opt<number[]>, keepdim: boolean): H;
  norm(a: H, p: number, dims: Opt<number[]>, keepdim: boolean): H;
  all(a: H, dim: Opt<number>, keepdim: boolean): H;
  any(a: H, dim: Opt<number>, keepdim: boolean): H;
  cumsum(a: H, dim: number, dtype?: Opt<string>): H;
  softmax(a: H, dim: number, dtype?: Opt<string>): H;
  logSoftmax(a: H, dim: number, dtype?: Opt<string>): H;
  matmul(a: H, b: H): H;
  bmm(a: H, b: H): H;
  mm(a: H, b: H): H;
  outer(a: H, b: H): H;
  einsum(eq: string, ts: H[]): H;
  linear(x: H, w: H, b: Opt<H>): H;
  embedding(w: H, idx: H, paddingIdx: number): H;
  layerNorm(x: H, shape: number[], w: Opt<H>, b: Opt<H>, eps: number): H;
  dropout(x: H, p: number, train: boolean): H;
  crossEntropy(x: H, target: H, weight: Opt<H>, reduction: string, ignoreIndex: number, labelSmoothing: number): H;
  mseLoss(x: H, y: H, reduction: string): H;
  scaledDotProductAttention(q: H, k: H, v: H, mask: Opt<H>, dropoutP: number, isCausal: boolean, scale: Opt<number>, train: boolean, reference?: boolean): H;
  // fused model entry points
  gptForward(weights: (H | null)[], nHead: number, eps: number, inputIds: H, attentionMask: Opt<H>, positionIds: Opt<H>, withLogits?: boolean): H[];
  generate(weights: (H | null)[], nHead: number, eps: number, promptIds: H, promptMask: H, maxNewTokens: number, temperature: number, topK: number, topP: number, greedy: boolean, eosTokenId: number, padTokenId: number, seed: number | null, useCache: boolean): Promise<{ tokens: H; responseMask: H; logprobs: H }>;
  // runtime
  manualSeed(seed: number): void;
  emptyCache(): void;
  cacheStats(): { cachedBytes: number; cachedBlocks: number; limitBytes: number };
  setAutocast(device: string, enabled: boolean, dtype?: Opt<string>): [boolean, string];
  getRngState(): H;
  setRngState(state: H): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  memory(): { device: string; tensors: number; bytes: number }[];
  version(): { libtorch: string; cuda: boolean; parallel: string };
  adamwStep(params: H[], expAvg: H[], expAvgSq: H[], maxExpAvgSq: H[], steps: number[], lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, amsgrad: boolean, maximize: boolean): number[];
  sgdStep(params: H[], buffers: (H | null)[], lr: number, momentum: number, dampening: number, weightDecay: number, nesterov: boolean, maximize: boolean): (H | null)[];
  clipGradNorm(params: H[], maxNorm: number, normType: number, errorIfNonfinite: boolean): number;
  [unary: string]: unknown;
}

/** Names of the elementwise functions of one tensor that the addon exports. */
export const UNARY_OPS = [
  'neg', 'exp', 'log', 'log1p', 'expm1', 'sqrt', 'rsqrt', 'tanh', 'sigmoid', 'logSigmoid', 'relu',
  'silu', 'abs', 'sign', 'sin', 'cos', 'floor', 'ceil', 'round', 'reciprocal', 'square', 'erf',
  'logicalNot', 'isnan', 'isinf', 'isfinite',
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

function explain(err: unknown, tried: string[] = []): Error {
  const msg = err instanceof Error ? err.message : String(err);
  let hint: string;
  if (/libtorch|libc10|libtorch_cpu|libtorch_cuda/.test(msg)) {
    hint =
      'The addon was found but libtorch could not be loaded.\n' +
      '  On Debian/Ubuntu: sudo apt-get install libtorch-dev libopenblas0-pthread\n' +
      '  With a downloaded libtorch: rebuild with LIBTORCH=/path/to/libtorch npm run build:native,\n' +
      '  or point LD_LIBRARY_PATH at its lib/ folder.';
  } else if (/No native build was found/.test(msg)) {
    hint =
      'No compiled addon was found (no matching prebuild, no build/Release/torch_rlhf.node).\n' +
      '  In a checkout: bash scripts/setup.sh   (installs libtorch if needed, then npm ci)\n' +
      '  or, when libtorch is already installed: npm run build:native\n' +
      '  As a dependency: npm rebuild torch-rlhf (if npm skipped install scripts, approve them first:\n' +
      '  npm install-scripts approve torch-rlhf)';
  } else if (/undefined symbol/.test(msg)) {
    hint =
      'The addon was built against a different libtorch than the one found at run time.\n' +
      '  Rebuild it against the installed libtorch: npm run build:native';
  } else {
    hint = 'Rebuild the addon with: npm run build:native (see scripts/setup.sh for prerequisites).';
  }
  const files = tried.length ? `\n  Tried: ${tried.join(', ')}` : '';
  return new Error(`torch-rlhf: could not load the native addon.\n${hint}${files}\n  Cause: ${msg}`);
}

/**
 * The addon files to try, in order: a prebuilt binary for this platform (prebuilds/<platform>-
 * <arch>/torch-rlhf.<variant>.node, node-gyp-build's folder layout), then the local build.
 * Variants: 'cuda' (linked against a CUDA libtorch) is tried before 'cpu'; a CUDA binary fails
 * to load where libtorch_cuda is missing, and the CPU one is taken. TORCH_RLHF_VARIANT=cpu|cuda
 * forces one; TORCH_RLHF_PREFER_BUILD=1 tries build/Release first, as does a build/Release
 * newer than the prebuilds (a fresh local compile).
 */
export function addonCandidates(root = packageRoot, env = process.env): string[] {
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const variants = env.TORCH_RLHF_VARIANT ? [env.TORCH_RLHF_VARIANT] : ['cuda', 'cpu'];
  const prebuilt = variants.map((v) => join(dir, `torch-rlhf.${v}.node`)).filter((f) => existsSync(f));
  const local = [join(root, 'build', 'Release', 'torch_rlhf.node')].filter((f) => existsSync(f));
  // A local build newer than every prebuild is a developer's fresh compile: it goes first.
  const fresher = local.length > 0 && prebuilt.every((f) => statSync(f).mtimeMs < statSync(local[0]!).mtimeMs);
  return env.TORCH_RLHF_PREFER_BUILD || fresher ? [...local, ...prebuilt] : [...prebuilt, ...local];
}

function load(): NativeAddon {
  const require = createRequire(import.meta.url);
  const candidates = addonCandidates();
  if (candidates.length === 0) throw explain(new Error(`No native build was found for platform=${process.platform} arch=${process.arch} in ${packageRoot}`));
  const failures: unknown[] = [];
  for (const file of candidates) {
    try {
      return require(file) as NativeAddon;
    } catch (err) {
      failures.push(err);
    }
  }
  throw explain(failures[failures.length - 1], candidates);
}

export const N: NativeAddon = load();
