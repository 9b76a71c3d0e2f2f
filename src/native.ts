// The one place that loads the compiled addon and declares its interface. Nothing else in
// src/ imports the .node file. Loading: find libtorch (src/libtorch.ts), pick the addon binary
// made for that libtorch (a prebuild in prebuilds/<platform>-<arch>/ named by its build tag, or
// a local build in build/Release whose embedded tag matches), open that libtorch's libraries by
// absolute path through a small libtorch-free helper addon, then load the addon itself.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync, readdirSync, statSync } from 'node:fs';
import type { SGDOptions } from './optim/sgd.js';
import {
  MIN_LIBTORCH,
  buildTag,
  describeLibtorch,
  embeddedBuildTag,
  findLibtorch,
  installHint,
  libtorchLibraries,
  prebuildName,
  prebuildTag,
  searchedPlaces,
  tooOld,
  type Libtorch,
} from './libtorch.js';

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

/** The CPU caching allocator's counters (native/cpu_allocator.h); torch.cpuCache() returns them. */
export interface CpuCacheInfo {
  /** Freed blocks held for reuse, and how many. */
  cachedBytes: number;
  cachedBlocks: number;
  /** The cache's cap (TORCH_RLHF_CPU_CACHE_MB). */
  limitBytes: number;
  /** Live blocks of the sizes it caches (≥ 64 KiB, rounded up), and their high-water mark: live + cached stays under it. */
  liveBytes: number;
  peakLiveBytes: number;
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
  /** backward on the compute thread (the training step; binding/promise_worker.h: computeNowOrLater). */
  backwardAsync(t: H, grad: Opt<H>, retainGraph: Opt<boolean>, createGraph: boolean): Promise<void>;
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
  layerNorm(x: H, shape: number[], options: { weight?: Opt<H>; bias?: Opt<H>; eps?: number }): H;
  rmsNorm(x: H, shape: number[], w: Opt<H>, eps: number): H;
  dropout(x: H, p: number, train: boolean): H;
  crossEntropy(x: H, target: H, options: { weight?: Opt<H>; reduction?: string; ignoreIndex?: number; labelSmoothing?: number }): H;
  mseLoss(x: H, y: H, reduction: string): H;
  /** [logprobs, entropy, argmax, logitSum] of a linear LM head, chunked over positions (native/lm_head_logprobs.h); null if not asked. */
  lmHeadLogprobs(hidden: H, weight: H, targets: H, options: NativeLMHeadOptions): [H, H | null, H | null, H | null];
  lmHeadLogprobsAsync(hidden: H, weight: H, targets: H, options: NativeLMHeadOptions): Promise<[H, H | null, H | null, H | null]>;
  scaledDotProductAttention(q: H, k: H, v: H, options: NativeAttentionOptions): H;
  // fused model entry points
  /** [logits, hidden], or [hidden] when input.withLogits is false. */
  gptForward(model: GPTNativeModel, input: NativeForwardInput): H[];
  generate(model: GPTNativeModel, prompts: NativePrompts, options: NativeGenerateOptions): Promise<NativeGenerated>;
  llamaForward(model: LlamaNativeModel, input: NativeForwardInput): H[];
  llamaGenerate(model: LlamaNativeModel, prompts: NativePrompts, options: NativeGenerateOptions): Promise<NativeGenerated>;
  /** One GPT-2 block (native/gpt.h gptBlock); with input.checkpoint, gradient-checkpointed. */
  gptBlock(block: GPTNativeBlock, input: NativeGPTBlockInput): H;
  /** One Llama decoder layer (native/llama.h llamaLayer); with input.checkpoint, gradient-checkpointed. */
  llamaLayer(layer: LlamaNativeLayer, input: NativeLlamaLayerInput): H;
  /** gptBlock and llamaLayer on the compute thread, with the caller's grad mode and autocast: the training forward. */
  gptBlockAsync(block: GPTNativeBlock, input: NativeGPTBlockInput): Promise<H>;
  llamaLayerAsync(layer: LlamaNativeLayer, input: NativeLlamaLayerInput): Promise<H>;
  /** (B, 1, L, S) bool from a (B, S) key mask for the last L queries: the one mask both forwards use (native/attention.h). */
  attentionMask(keyMask: H, queries: number): H;
  /** x @ weight (+ bias) through the decode-step kernel; weight (K, N) when inOut, else (N, K). Tests only. */
  skinnyMatmul(args: { x: H; weight: H; bias?: H; inOut: boolean }): H;
  // runtime
  manualSeed(seed: number): void;
  emptyCache(): void;
  cacheStats(): CpuCacheInfo;
  setAutocast(device: string, enabled: boolean, dtype?: Opt<string>): [boolean, string];
  getRngState(): H;
  setRngState(state: H): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  memory(): { device: string; tensors: number; bytes: number }[];
  version(): { libtorch: string; build: string; cuda: boolean; parallel: string };
  /** One AdamW step over a group's parameters (binding/ops_optim.cc) → each parameter's updated step count. */
  adamwStep(options: NativeAdamWStep): number[];
  /** One SGD step over a group's parameters → for each, its new momentum buffer, or null where it had one or uses none. */
  sgdStep(options: NativeSGDStep): (H | null)[];
  clipGradNorm(params: H[], options: { maxNorm: number; normType?: number; errorIfNonfinite?: boolean }): number;
  adamwStepAsync(options: NativeAdamWStep): Promise<number[]>;
  clipGradNormAsync(params: H[], options: { maxNorm: number; normType?: number; errorIfNonfinite?: boolean }): Promise<number>;
  // process groups over c10d (src/distributed/)
  distInit(options: NativeGroupOptions): Promise<GroupHandle>;
  distAllReduce(group: GroupHandle, t: H, options: { op: string }): WorkHandle;
  distBroadcast(group: GroupHandle, t: H, options: { root: number }): WorkHandle;
  distAllGather(group: GroupHandle, t: H): WorkHandle;
  distBarrier(group: GroupHandle): WorkHandle;
  distWait(work: WorkHandle): Promise<H[]>;
  distInfo(group: GroupHandle): { rank: number; worldSize: number; backend: string };
  distDestroy(group: GroupHandle): void;
  /** The unary ops' names as the addon's table has them (binding/ops_math.cc); a test compares them with UNARY_OPS. */
  unaryOps: string[];
  [unary: string]: unknown;
}

/** Opaque reference to one c10d process group (native/c10d.h). */
export interface GroupHandle {
  readonly __group: unique symbol;
}
/** Opaque reference to one collective in flight. */
export interface WorkHandle {
  readonly __work: unique symbol;
}
/** How a process group joins, by name, as native/c10d.h's GroupOptions. */
export interface NativeGroupOptions {
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  backend: 'gloo' | 'nccl';
  hostStore: boolean;
  prefix: string;
  timeoutMs: number;
  joinTimeoutMs: number;
  heartbeatMs: number;
  glooInterface?: string;
}

/** GPT-2 by name, as binding/ops_model.cc reads it: sizes, then weights (a bias is null when the model has none). */
export interface GPTNativeModel {
  nHead: number;
  eps: number;
  wte: Handle;
  wpe: Handle;
  lnfW: Handle;
  lnfB: Handle | null;
  blocks: GPTNativeBlock[];
}
/**
 * A LoRA adapter beside a projection (native/layers.h): A (r, in), B (out, r) in the adapter's own
 * dtype; the base output gets s·B(A(dropout(x))), never a merged copy of the weight.
 */
export interface NativeLoRA {
  a: Handle;
  b: Handle;
  scaling: number;
  dropout: number;
}
/** One GPT-2 block's weights; Conv1D weights are (in, out); an adapter beside any of the four products. */
export interface GPTNativeBlock {
  attnLora?: NativeLoRA | null;
  attnProjLora?: NativeLoRA | null;
  fcLora?: NativeLoRA | null;
  mlpProjLora?: NativeLoRA | null;
  ln1W: Handle;
  ln1B: Handle | null;
  attnW: Handle;
  attnB: Handle | null;
  attnProjW: Handle;
  attnProjB: Handle | null;
  ln2W: Handle;
  ln2B: Handle | null;
  fcW: Handle;
  fcB: Handle | null;
  mlpProjW: Handle;
  mlpProjB: Handle | null;
}
/** A Llama-family model by name, as binding/ops_model.cc reads it. */
export interface LlamaNativeModel {
  nHead: number;
  nKvHead: number;
  headDim: number;
  eps: number;
  maxPositions: number;
  /** RoPE's inverse frequencies, (headDim / 2) float32. */
  invFreq: Handle;
  embed: Handle;
  norm: Handle;
  /** null: tied to embed. */
  lmHead: Handle | null;
  layers: LlamaNativeLayer[];
}
/** One Llama decoder layer's weights; projections are (out, in), biases null where the model has none. */
export interface LlamaNativeLayer {
  qLora?: NativeLoRA | null;
  kLora?: NativeLoRA | null;
  vLora?: NativeLoRA | null;
  oLora?: NativeLoRA | null;
  gateLora?: NativeLoRA | null;
  upLora?: NativeLoRA | null;
  downLora?: NativeLoRA | null;
  inputLayernorm: Handle;
  qW: Handle;
  qB: Handle | null;
  kW: Handle;
  kB: Handle | null;
  vW: Handle;
  vB: Handle | null;
  oW: Handle;
  oB: Handle | null;
  postAttentionLayernorm: Handle;
  gateW: Handle;
  gateB: Handle | null;
  upW: Handle;
  upB: Handle | null;
  downW: Handle;
  downB: Handle | null;
}
/** A native forward's input by name. */
export interface NativeForwardInput {
  inputIds: Handle;
  attentionMask?: Handle | null;
  positionIds?: Handle | null;
  /** false skips the LM head (default true). */
  withLogits?: boolean;
}
/** One layer's input by name (binding/ops_model.cc parseLayerInput). */
export interface NativeLayerInput {
  /** (B, L, C) */
  x: Handle;
  /** (B, 1, L, S) bool; null: plain causal attention. */
  mask?: Handle | null;
  dropout?: number;
  training?: boolean;
  /** Gradient checkpointing: keep only x for backward, which recomputes the layer. */
  checkpoint?: boolean;
}
export interface NativeGPTBlockInput extends NativeLayerInput {
  nHead: number;
  eps: number;
}
export interface NativeLlamaLayerInput extends NativeLayerInput {
  /** RoPE's (B, 1, L, headDim) at the layer's positions, in the activations' dtype. */
  cos: Handle;
  sin: Handle;
  nHead: number;
  nKvHead: number;
  headDim: number;
  eps: number;
}
/** Left-padded prompts (B, T) and their mask (true = real token). */
export interface NativePrompts {
  promptIds: Handle;
  promptMask: Handle;
}
export interface NativeGenerated {
  tokens: Handle;
  responseMask: Handle;
  logprobs: Handle;
}
/** scaled_dot_product_attention's options by name. */
export interface NativeAttentionOptions {
  attnMask?: Handle | null;
  dropoutP?: number;
  isCausal?: boolean;
  scale?: number | null;
  training?: boolean;
  /** The plain-ATen reference implementation (tests). */
  reference?: boolean;
  enableGqa?: boolean;
}
/** lmHeadLogprobs' options by name (native/lm_head_logprobs.h: LMHeadLogprobsOptions). */
export interface NativeLMHeadOptions {
  temperature?: number;
  /** Positions per chunk; 0 or absent: about 32 MB of float32 logits per chunk. */
  chunkSize?: number;
  ignoreIndex?: number;
  entropy?: boolean;
  argmax?: boolean;
  logitSum?: boolean;
}
/** Generation options by name, as the native loop reads them. */
export interface NativeGenerateOptions {
  maxNewTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  greedy: boolean;
  /** Any of them ends a sequence; empty: none. */
  eosTokenIds: number[];
  padTokenId: number;
  seed: number | null;
  useCache: boolean;
  /** Continuations per prompt: each prompt prefilled once, its rows repeated (b0, b0, …, b1, …). */
  numReturnSequences: number;
  /** Streaming: each step's ids (one per row, pad for finished rows), on the JS thread while the loop runs; may come after it resolves. */
  onToken?: ((ids: number[]) => void) | null;
}

/** An AdamW step's parameters and hyperparameters by name, as binding/ops_optim.cc reads them. */
export interface NativeAdamWStep {
  params: { param: Handle; expAvg: Handle; expAvgSq: Handle; maxExpAvgSq?: Handle | null; step: number }[];
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** maxExpAvgSq is read only under amsgrad. */
  amsgrad: boolean;
  maximize: boolean;
}
/** An SGD step's parameters and hyperparameters by name; a null momentumBuffer is created on first use. */
export interface NativeSGDStep extends SGDOptions {
  params: { param: Handle; momentumBuffer: Handle | null }[];
}

/** Names of the elementwise functions of one tensor that the addon exports (its table: binding/ops_math.cc). */
export const UNARY_OPS = [
  'neg',
  'exp',
  'log',
  'log1p',
  'expm1',
  'sqrt',
  'rsqrt',
  'tanh',
  'sigmoid',
  'logSigmoid',
  'relu',
  'silu',
  'abs',
  'sign',
  'sin',
  'cos',
  'floor',
  'ceil',
  'round',
  'reciprocal',
  'square',
  'erf',
  'logicalNot',
  'isnan',
  'isinf',
  'isfinite',
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

const prebuildDir = (root: string) => join(root, 'prebuilds', `${process.platform}-${process.arch}`);
/** Local builds: build/ (npm run build:native) and build-<tag>/ (npm run prebuild for another libtorch). */
function localBuilds(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((d) => d === 'build' || d.startsWith('build-'))
    .map((d) => join(root, d, 'Release', 'torch_rlhf.node'))
    .filter((f) => existsSync(f));
}

/** Every addon binary in the package, with the libtorch build tag it was made for. */
export function addonsInPackage(root = packageRoot): { file: string; tag: string | undefined; prebuilt: boolean }[] {
  const dir = prebuildDir(root);
  const prebuilt = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => prebuildTag(f))
        .map((f) => ({ file: join(dir, f), tag: prebuildTag(f), prebuilt: true }))
    : [];
  const local = localBuilds(root).map((file) => ({ file, tag: embeddedBuildTag(file), prebuilt: false }));
  return [...prebuilt, ...local];
}

/**
 * The addon files made for this libtorch, in the order to try: the prebuild and any local build
 * with the same tag. A local build goes first when it is newer than the prebuild (a developer's
 * fresh compile); TORCH_RLHF_PREFER=build or TORCH_RLHF_PREFER=prebuild decides instead.
 */
export function addonCandidates(lt: Pick<Libtorch, 'version' | 'variant'>, root = packageRoot, env = process.env): string[] {
  const tag = buildTag(lt);
  const all = addonsInPackage(root).filter((a) => a.tag === tag);
  const prebuilt = all.filter((a) => a.prebuilt).map((a) => a.file);
  const local = all
    .filter((a) => !a.prebuilt)
    .map((a) => a.file)
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  const fresher = local.length > 0 && prebuilt.every((f) => statSync(f).mtimeMs < statSync(local[0]!).mtimeMs);
  const localFirst = env.TORCH_RLHF_PREFER ? env.TORCH_RLHF_PREFER === 'build' : fresher;
  return localFirst ? [...local, ...prebuilt] : [...prebuilt, ...local];
}

/** The helper that opens libraries by path: next to the addon, else any in the package. */
function preloaderFor(addon: string, root: string): string | undefined {
  const near = [join(dirname(addon), 'torch_rlhf_preload.node'), join(dirname(addon), 'torch-rlhf-preload.node')];
  const anywhere = [
    join(prebuildDir(root), 'torch-rlhf-preload.node'),
    ...localBuilds(root).map((f) => join(dirname(f), 'torch_rlhf_preload.node')),
  ];
  return [...near, ...anywhere].find((f) => existsSync(f));
}

const SETUP_HINT =
  "  In a checkout: bash scripts/setup.sh   (installs PyTorch's CPU libtorch into .venv with pip, then builds)\n" +
  "  As a dependency: pip install torch --index-url https://download.pytorch.org/whl/cpu in your project's\n" +
  '  .venv or an active virtual environment, or set LIBTORCH to a libtorch folder or a virtual environment with torch.';

function loadError(message: string, cause?: unknown): Error {
  const why = cause === undefined ? '' : `\n  Cause: ${cause instanceof Error ? cause.message : String(cause)}`;
  return new Error(`torch-rlhf: could not load the native addon.\n${message}${why}`);
}

/** What was found and what would fit, when no binary matches the libtorch found. */
function noMatchingAddon(lt: Libtorch, root: string): Error {
  const have = addonsInPackage(root);
  const list = have.length
    ? have.map((a) => `    ${a.file.slice(root.length + 1)}: libtorch ${a.tag ?? '(no build tag: rebuild it)'}`).join('\n')
    : '    none (no prebuilds/, no build/Release/torch_rlhf.node)';
  const tags = [...new Set(have.filter((a) => a.prebuilt && a.tag).map((a) => a.tag!))];
  const install = tags.map((t) => {
    const [version, variant] = [t.slice(0, t.lastIndexOf('-')), t.slice(t.lastIndexOf('-') + 1)];
    return `  Use a libtorch a binary was made for: ${installHint(version, variant)}`;
  });
  return loadError(
    `No torch-rlhf binary was made for ${describeLibtorch(lt)}.\n` +
      `  It needs ${prebuildName(lt)} or a local build for ${buildTag(lt)}. Binaries in this package:\n${list}\n` +
      (install.length ? install.join('\n') + '\n' : '') +
      `  Or build for the libtorch found: npm run build:native (in a checkout; see scripts/setup.sh),\n` +
      `  or TORCH_RLHF_BUILD_FROM_SOURCE=1 npm rebuild torch-rlhf (as a dependency).`,
  );
}

export interface LoadedAddon {
  addon: NativeAddon;
  file: string;
  libtorch: Libtorch;
}

/** Finds libtorch and the binary made for it, opens that libtorch, loads the binary. */
export function loadAddon(root = packageRoot, env = process.env): LoadedAddon {
  let lt: Libtorch | undefined;
  try {
    lt = findLibtorch({ packageRoot: root, env });
  } catch (err) {
    throw loadError((err as Error).message.replace(/^torch-rlhf: /, '  '));
  }
  if (!lt) throw loadError(`No libtorch was found (searched: ${searchedPlaces({ packageRoot: root, env }).join(', ')}).\n${SETUP_HINT}`);
  if (tooOld(lt)) throw loadError(`Found ${describeLibtorch(lt)}, older than ${MIN_LIBTORCH}, the oldest supported.\n${SETUP_HINT}`);
  const candidates = addonCandidates(lt, root, env);
  if (candidates.length === 0) throw noMatchingAddon(lt, root);
  const require = createRequire(import.meta.url);
  let lastError: unknown;
  for (const file of candidates) {
    const preloader = preloaderFor(file, root);
    try {
      if (!preloader) throw new Error(`the helper torch-rlhf-preload.node is missing next to ${file}`);
      const { open } = require(preloader) as { open(path: string): void };
      for (const lib of libtorchLibraries(lt)) open(lib);
      return { addon: require(file) as NativeAddon, file, libtorch: lt };
    } catch (err) {
      lastError = err;
    }
  }
  throw loadError(
    `Found ${describeLibtorch(lt)} and a binary made for it, but loading failed.\n` +
      `  Tried: ${candidates.join(', ')}\n` +
      '  Rebuild the addon against this libtorch: npm run build:native (see scripts/setup.sh for prerequisites).',
    lastError,
  );
}

const loaded = loadAddon();
export const N: NativeAddon = loaded.addon;
/** The libtorch the addon runs on, and the binary that was loaded. */
export const libtorch: Libtorch = loaded.libtorch;
export const addonFile: string = loaded.file;
