// Randomized bad API calls, run as a child by test/fuzz.test.ts: tensor methods, torch.*,
// torch.nn.functional and the native GPT forward with wrong shapes, dtypes, devices, values,
// disposed tensors and non-tensors, from a fixed seed. Every call must return or throw a JS
// Error without a C++ backtrace; the process must not die (SIGFPE, SIGSEGV, V8 aborting)
// or hang. Sizes stay small or absurd (refused at once): never the few GB in between.
// Prints one JSON line: the counts, the slowest calls and every contract breach.
const [distUrl, seedArg, callsArg] = process.argv.slice(2);
const { torch, F, GPT, Tensor } = await import(distUrl);

let state = Number(seedArg) >>> 0;
const random = () => {
  // mulberry32
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (xs) => xs[Math.floor(random() * xs.length)];

// biome-ignore lint/correctness/noPrecisionLoss: -2^63 is exact as a double; the literal says which value it is.
const INT64_MIN = -9223372036854775808;
const numbers = [0, 1, -1, 2, 3, -2, 0.5, 1.5, NaN, Infinity, -Infinity, 1e12, -1e12, 2 ** 53, INT64_MIN, 64, 5000];
const strings = [
  'float32',
  'float64',
  'int64',
  'int32',
  'bool',
  'bfloat16',
  'cpu',
  'cuda',
  'cuda:7',
  'trunc',
  'floor',
  'mean',
  'sum',
  'none',
  'tanh',
  '',
  'nope',
  'ij,jk->ik',
  '...',
];
const arrays = [
  [],
  [2, 3],
  [3, 2],
  [-1],
  [0],
  [0, 3],
  [2, -1],
  [1e12, 1e12],
  [1e4, 1e4, 0],
  [NaN],
  [1.5],
  ['a'],
  [[1, 2], [3]],
  [
    [1, 2],
    [3, 4],
  ],
  [INT64_MIN, 5],
  [2 ** 31, 0],
];
const objects = [
  {},
  { dtype: 'int64' },
  { dtype: 'nope' },
  { device: 'cuda' },
  { device: 'gpu' },
  { requiresGrad: true },
  { dim: 0 },
  { keepdim: 'yes' },
  { dtype: 'float64', requiresGrad: true },
];
const others = [null, undefined, true, false, 5n, -1n, Symbol('s'), () => 1, new Float32Array(3), new Map()];

function makePool() {
  // tidy keeps what it returns and disposes the intermediates (the transpose's base).
  const t = torch.tidy(() => [
    torch.randn([2, 3]),
    torch.randn([3, 2]).t(),
    torch.tensor([INT64_MIN, 5, -1], { dtype: 'int64' }),
    torch.tensor([-2147483648, 7], { dtype: 'int32' }),
    torch.tensor([-1, -1, 1], { dtype: 'int64' }),
    torch.tensor([
      [true, false],
      [false, true],
    ]),
    torch.zeros([0, 3]),
    torch.zeros([1e4, 1e4, 0]),
    torch.tensor(2.5, { dtype: 'float64' }),
    torch.ones([4], { requiresGrad: true }),
    torch.randint(0, 16, [2, 4]),
    torch.full([2, 3], NaN),
  ]);
  const disposed = torch.ones([2]);
  disposed.dispose();
  t.push(disposed);
  return t;
}
let pool = []; // made at the first call and every 200 calls

function arg() {
  const r = random();
  if (r < 0.35) return pick(pool);
  if (r < 0.55) return pick(numbers);
  if (r < 0.68) return pick(strings);
  if (r < 0.82) return pick(arrays);
  if (r < 0.9) return pick(objects);
  return pick(others);
}
const args = () => Array.from({ length: Math.floor(random() * 5) }, arg);

// Not fuzzed: what keeps tensors alive on purpose, what runs a callback, and Tensor itself.
const skipTorch = new Set(['Tensor', 'keep', 'tidy', 'noGrad', 'enableGrad', 'cuda', 'AdamW', 'SGD', 'Optimizer']);
const torchFns = Object.keys(torch).filter((k) => typeof torch[k] === 'function' && !skipTorch.has(k));
const tensorMethods = Object.getOwnPropertyNames(Tensor.prototype).filter((k) => {
  const d = Object.getOwnPropertyDescriptor(Tensor.prototype, k);
  return k !== 'constructor' && typeof d.value === 'function';
});
const fFns = Object.keys(F).filter((k) => typeof F[k] === 'function');
const gpt = GPT.create({ vocabSize: 16, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8 });

// The probe's own cases, among the random ones.
const probeCases = [
  () => torch.tensor([INT64_MIN, 5], { dtype: 'int64' }).div(-1, pick(['trunc', 'floor'])),
  () => torch.tensor([-2147483648], { dtype: 'int32' }).div(torch.tensor([-1], { dtype: 'int32' }), 'floor'),
  () => torch.tensor([INT64_MIN], { dtype: 'int64' }).remainder(-1),
  () => torch.tensor([INT64_MIN], { dtype: 'int64' }).fmod(torch.tensor([-1], { dtype: 'int64' })),
  () => {
    const t = torch.tensor([INT64_MIN], { dtype: 'int64' });
    t.div_(-1);
  },
  () => String(torch.zeros([1e4, 1e4, 0])),
  () => torch.zeros([1e4, 1e4, 0]).tolist(),
  () => {
    throw new Error(`bad ${torch.zeros([1e4, 1e4, 0])}`);
  },
  () => torch.setNumThreads(5000),
  () => torch.zeros([2000]).split(1).length,
  () => torch.zeros([1000, 2]).chunk(2 ** 32).length,
  () => torch.noGrad(() => gpt.forward(torch.zeros([0, 4], { dtype: 'int64' }), { path: 'native' })),
  () => torch.noGrad(() => gpt.forward(torch.tensor([[1.5, 2]]), { path: 'native' })),
  () => torch.noGrad(() => gpt.forward(torch.tensor([[99, 2]], { dtype: 'int64' }), { path: 'native' })),
  () => F.relu(3),
  () => F.softmax(null, 0),
];

const breaches = [];
const counts = { calls: 0, returned: 0, threw: 0 };
const slowest = [];
const threads = torch.getNumThreads();
const total = Number(callsArg);
const base = torch.memory().tensors;
for (let i = 0; i < total; i++) {
  if (i % 200 === 0) {
    torch.dispose(pool);
    pool = makePool();
  }
  const r = random();
  let name;
  let call;
  if (r < 0.45) {
    const self = pick(pool);
    const m = pick(tensorMethods);
    const a = args();
    name = `Tensor.${m}`;
    call = () => self[m](...a);
  } else if (r < 0.75) {
    const f = pick(torchFns);
    const a = args();
    name = `torch.${f}`;
    call = () => torch[f](...a);
  } else if (r < 0.88) {
    const f = pick(fFns);
    const a = args();
    name = `F.${f}`;
    call = () => F[f](...a);
  } else if (r < 0.94) {
    const a = [arg(), arg()];
    name = 'gpt.forward (native path)';
    call = () => torch.noGrad(() => gpt.forward(a[0], { ...(typeof a[1] === 'object' ? a[1] : {}), path: 'native' }));
  } else {
    const k = Math.floor(random() * probeCases.length);
    name = `probe#${k}`;
    call = probeCases[k];
  }
  const t0 = performance.now();
  const live0 = torch.memory().tensors;
  counts.calls++;
  try {
    // The async twins (backwardAsync, stepAsync …) return a Promise: it must settle, and a bad
    // argument must reject it with the same clear error, not escape as an unhandled rejection.
    let pending = null;
    torch.tidy(() => {
      const out = call();
      if (out instanceof Promise) pending = out;
      else if (out instanceof Tensor && !out.isDisposed) String(out); // printing must be safe too
    });
    if (pending) {
      const out = await pending;
      if (out instanceof Tensor) out.dispose();
    }
    counts.returned++;
  } catch (e) {
    counts.threw++;
    if (!(e instanceof Error)) breaches.push(`${name}: threw a non-Error ${typeof e}`);
    else if (/Exception raised from|frame #\d/.test(e.message)) breaches.push(`${name}: C++ backtrace in ${e.message.slice(0, 200)}`);
    else if (e.message.length > 20_000) breaches.push(`${name}: a ${e.message.length}-character message`);
  }
  if (torch.memory().tensors !== live0 && !name.startsWith('Tensor.dispose') && name !== 'torch.dispose')
    breaches.push(`${name}: ${torch.memory().tensors - live0} tensors outlived the call`);
  const ms = performance.now() - t0;
  slowest.push({ name, ms: Math.round(ms) });
  slowest.sort((a, b) => b.ms - a.ms);
  slowest.length = Math.min(slowest.length, 5);
  if (torch.getNumThreads() !== threads) torch.setNumThreads(threads);
  torch.setGradEnabled(true);
}
torch.dispose(pool);
const leaked = torch.memory().tensors - base;
if (leaked !== 0) breaches.push(`${leaked} tensors still live after every result was disposed`);
console.log(JSON.stringify({ ...counts, slowest, breaches }));
