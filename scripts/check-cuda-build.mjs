// Checks the CUDA variant of the addon where it runs (scripts/build-cuda.sh runs it with
// LIBTORCH set to the CUDA wheel's torch/ folder): the loader picked the CUDA binary, CUDA is
// reported as present or absent as the machine is, CPU work gives the same values as the CPU
// variant (computed in a child process on the project's CPU libtorch), a few SFT steps train,
// and, without a GPU, a CUDA tensor is a JS error rather than a crash. Exits non-zero on a failure.
//   LIBTORCH=.venv-cuda/lib/python3.11/site-packages/torch node scripts/check-cuda-build.mjs
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { torch, GPT, ByteTokenizer, SFTTrainer } = await import('../dist/index.js');

let failed = 0;
function check(name, ok, detail = '') {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  if (!ok) failed++;
}

/** The same CPU work on whichever addon this process loaded: a GPT forward and generation. */
async function work() {
  torch.manualSeed(7);
  const model = GPT.create({ vocabSize: 50, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32 });
  model.eval();
  const ids = torch.tensor([
    [1, 2, 3, 4, 5, 6],
    [7, 8, 9, 10, 11, 12],
  ]);
  const logits = torch.noGrad(() => model.forward(ids).logits);
  const gen = await model.generate([[1, 2, 3]], { maxNewTokens: 8, greedy: true });
  return { build: torch.version().build, logits: logits.flatten().tolist(), tokens: gen.tokens.tolist() };
}
if (process.argv.includes('--work')) {
  console.log(JSON.stringify(await work()));
  process.exit(0);
}
const here = await work();

const v = torch.version();
check('the loader chose the CUDA binary', /-cu\d+$/.test(v.build) && v.addon.includes('prebuilds'), `${v.build} (${v.addon})`);
check('it runs on the CUDA libtorch it was built for', v.libtorchDir.startsWith(process.env.LIBTORCH ?? '\0'), v.libtorchDir);
const gpu = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8' });
const hasGpu = gpu.status === 0 && /GPU/.test(gpu.stdout);
check(
  `CUDA reported ${hasGpu ? 'available' : 'unavailable'}, as the machine is`,
  torch.cuda.isAvailable() === hasGpu && torch.cuda.deviceCount() > 0 === hasGpu,
  `isAvailable ${torch.cuda.isAvailable()}, deviceCount ${torch.cuda.deviceCount()}`,
);

// Hand-computed CPU values.
const a = torch.tensor(
  [
    [1, 2],
    [3, 4],
  ],
  { dtype: 'float32' },
);
check('matmul by hand', JSON.stringify(a.matmul(a).tolist()) === '[[7,10],[15,22]]');
const ce = torch.nn.functional.crossEntropy(torch.tensor([[0, 0]], { dtype: 'float32' }), torch.tensor([1])).item();
check('cross entropy by hand (ln 2)', Math.abs(ce - Math.LN2) < 1e-6, String(ce));

// The same work on the CPU variant, in a child process on the project's CPU libtorch.
const cpuEnv = { ...process.env };
delete cpuEnv.LIBTORCH;
const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--work'], { encoding: 'utf8', env: cpuEnv });
if (child.status === 0) {
  const cpu = JSON.parse(child.stdout);
  const maxDiff = Math.max(...here.logits.map((t, i) => Math.abs(t - cpu.logits[i])));
  check(
    `GPT logits equal the CPU variant's (${cpu.build})`,
    cpu.build.endsWith('-cpu') && maxDiff < 1e-5,
    `max |Δ| ${maxDiff.toExponential(2)} over ${here.logits.length}`,
  );
  check(
    "greedy generation equals the CPU variant's",
    JSON.stringify(here.tokens) === JSON.stringify(cpu.tokens),
    JSON.stringify(here.tokens),
  );
} else {
  check('the CPU variant ran for comparison', false, child.stderr.split('\n').slice(0, 3).join(' '));
}

// A few SFT steps on the CPU.
const tok = new ByteTokenizer();
torch.manualSeed(1);
const model = GPT.create({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 32 });
const data = Array.from({ length: 8 }, (_, i) => ({ kind: 'prompt-completion', prompt: `q${i}`, completion: ` a${i}` }));
const out = join(root, 'build-cuda-check');
const trainer = new SFTTrainer({
  model,
  tokenizer: tok,
  trainDataset: data,
  evalDataset: [],
  config: { outputDir: out, maxSteps: 20, batchSize: 8, learningRate: 3e-3, progressBar: false, saveSteps: 0, loggingSteps: 1 },
});
const result = await trainer.train();
check(
  'SFT on the CPU: 20 steps, the loss falls',
  result.globalStep === 20 && result.metrics.loss < 4,
  `final loss ${result.metrics.loss?.toFixed(3)}`,
);
rmSync(out, { recursive: true, force: true });

if (!hasGpu) {
  let message = '';
  try {
    torch.zeros([2], { device: 'cuda' });
  } catch (err) {
    message = err.message;
  }
  check('a CUDA tensor without a GPU is a JS error', /NVIDIA driver|CUDA/.test(message), message.split('\n')[0]);
} else {
  const g = a.to('cuda').matmul(a.to('cuda')).cpu();
  check('matmul on the GPU', JSON.stringify(g.tolist()) === '[[7,10],[15,22]]');
}

console.log(failed ? `check-cuda-build: ${failed} check(s) failed` : 'check-cuda-build: all checks passed');
process.exit(failed ? 1 : 0);
