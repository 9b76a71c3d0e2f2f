// CUDA checks and a small benchmark, runnable on a machine with PyTorch but no npm (see
// scripts/gpu-run.sh). Writes gpu-check.json and gpu-check.md under --out. `--device cpu` runs
// the same checks on the CPU (to try the script anywhere).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { torch, F, GPT, ByteTokenizer, SFTTrainer, RewardModel, ActorCritic, PPOTrainer } from '../dist/index.js';

const args = process.argv.slice(2);
const arg = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const out = arg('--out', 'gpu-results');
const device = arg('--device', torch.cuda.isAvailable() ? 'cuda' : 'none');
const root = fileURLToPath(new URL('..', import.meta.url));
mkdirSync(out, { recursive: true });
const results = {
  date: new Date().toISOString(),
  libtorch: torch.version(),
  cudaAvailable: torch.cuda.isAvailable(),
  deviceCount: torch.cuda.deviceCount(),
  device,
  checks: [],
  bench: {},
};
const check = async (name, fn) => {
  const t0 = performance.now();
  try {
    const detail = await fn();
    results.checks.push({ name, ok: true, ms: Math.round(performance.now() - t0), detail });
  } catch (err) {
    results.checks.push({ name, ok: false, error: String(err?.message ?? err).split('\n')[0] });
  }
};
const close = (a, b, tol = 1e-4) => torch.tidy(() => a.cpu().sub(b.cpu()).abs().max().item() < tol);

if (device === 'none') {
  results.checks.push({
    name: 'cuda',
    ok: false,
    error: 'torch.cuda.isAvailable() is false (is this libtorch built with CUDA, and is a GPU visible?)',
  });
} else {
  const tok = new ByteTokenizer();
  await check('ops match the CPU', () =>
    torch.tidy(() => {
      torch.manualSeed(0);
      const a = torch.randn([64, 32]),
        b = torch.randn([32, 48]);
      const ref = a.matmul(b).softmax(-1);
      const got = a.to(device).matmul(b.to(device)).softmax(-1);
      if (!close(got, ref)) throw new Error('matmul+softmax differ');
      return { device: got.device };
    }),
  );
  await check('attention (libtorch SDPA) matches the composition', () =>
    torch.tidy(() => {
      const q = torch.randn([2, 4, 16, 8], { device }),
        k = torch.randn([2, 4, 16, 8], { device }),
        v = torch.randn([2, 4, 16, 8], { device });
      const mask = torch.ones([2, 1, 16, 16], { dtype: 'bool', device }).tril();
      if (
        !close(F.scaledDotProductAttention(q, k, v, { attnMask: mask }), F.scaledDotProductAttentionReference(q, k, v, { attnMask: mask }))
      )
        throw new Error('SDPA differs');
    }),
  );
  await check('memory is reported per device and freed', () => {
    const base = torch.memory();
    const t = torch.zeros([1 << 20], { device });
    const dev = Object.keys(torch.memory().devices).find((d) => d.startsWith('cuda')) ?? 'cpu';
    const grew = torch.memory().devices[dev].bytes - (base.devices[dev]?.bytes ?? 0);
    t.dispose();
    if (grew !== 4 << 20) throw new Error(`expected 4 MiB, saw ${grew}`);
    if (torch.memory().tensors !== base.tensors) throw new Error('not freed');
    return { device: dev };
  });
  await check('out of memory is a JS error', () => {
    try {
      torch.empty([1 << 30, 1 << 10], { device }).dispose();
    } catch (err) {
      return { message: String(err.message).slice(0, 200) };
    }
    throw new Error('allocating 4 TiB did not fail');
  });
  await check('generation: KV cache equals recomputation', async () => {
    const m = GPT.create({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 64 }, { device });
    const a = await m.generate(
      [
        [1, 2, 3],
        [4, 5],
      ],
      { greedy: true, maxNewTokens: 16 },
    );
    const b = await m.generate(
      [
        [1, 2, 3],
        [4, 5],
      ],
      { greedy: true, maxNewTokens: 16, useCache: false },
    );
    const same = JSON.stringify(a.tokens.tolist()) === JSON.stringify(b.tokens.tolist());
    torch.dispose([a, b]);
    m.dispose();
    if (!same) throw new Error('tokens differ');
  });
  await check('SFT, reward model and PPO train on the device', async () => {
    const dir = join(out, 'runs');
    const data = Array.from({ length: 32 }, (_, i) => ({ kind: 'prompt-completion', prompt: `Q${i % 4}:`, completion: ` A${i % 4}!` }));
    const m = GPT.create({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32 });
    const sft = new SFTTrainer({
      model: m,
      tokenizer: tok,
      trainDataset: data,
      config: { outputDir: join(dir, 'sft'), maxSteps: 10, learningRate: 1e-3, device, progressBar: false },
    });
    const r1 = await sft.train();
    sft.dispose();
    m.dispose();
    const rm = await RewardModel.fromTrunk(join(dir, 'sft'), { device });
    const prefs = Array.from({ length: 16 }, (_, i) => ({ prompt: `Q${i % 4}:`, completions: [' good!', ' bad.'] }));
    const rt = new (await import('../dist/index.js')).RewardTrainer({
      model: rm,
      tokenizer: tok,
      trainDataset: prefs,
      config: { outputDir: join(dir, 'rm'), maxSteps: 10, learningRate: 1e-3, device, progressBar: false },
    });
    const r2 = await rt.train();
    rt.dispose();
    rm.dispose();
    const policy = await ActorCritic.fromTrunk(join(dir, 'sft'), { device });
    const ref = await GPT.load(join(dir, 'sft'), { device });
    const reward = await RewardModel.load(join(dir, 'rm'), { device });
    const ppo = new PPOTrainer({
      model: policy,
      refModel: ref,
      rewardModel: reward,
      tokenizer: tok,
      prompts: data.map((d) => ({ prompt: d.prompt })),
      config: {
        outputDir: join(dir, 'ppo'),
        numIterations: 3,
        batchSize: 8,
        miniBatchSize: 4,
        maxNewTokens: 8,
        learningRate: 1e-4,
        device,
        progressBar: false,
      },
    });
    const r3 = await ppo.train();
    ppo.dispose();
    policy.dispose();
    ref.dispose();
    reward.dispose();
    return { sftLoss: r1.metrics.loss, rmAccuracy: r2.metrics.accuracy, ppoKl: r3.metrics['objective/kl'] };
  });
  // Benchmark: generation tokens/s and an SFT step, here and in PyTorch from Python.
  const size = { vocabSize: 259, blockSize: 512, nLayer: 6, nHead: 6, nEmbd: 384 };
  await check('benchmark', async () => {
    const m = GPT.create(size, { device }).eval();
    const prompts = Array.from({ length: 8 }, () => Array.from({ length: 32 }, (_, j) => 1 + j));
    await m.generate(prompts, { maxNewTokens: 8, seed: 0 }).then(torch.dispose);
    const t0 = performance.now();
    const g = await m.generate(prompts, { maxNewTokens: 128, seed: 1 });
    const secs = (performance.now() - t0) / 1000;
    torch.dispose(g);
    results.bench.generateTokensPerSecond = (8 * 128) / secs;
    m.train();
    const opt = new torch.optim.AdamW(m.parameters(), { lr: 1e-4 });
    const ids = torch.randint(0, 259, [8, 256], { device });
    const step = () =>
      torch.tidy(() => {
        opt.zeroGrad();
        const { logits } = m.forward(ids.narrow(1, 0, 255));
        F.crossEntropy(logits.reshape(-1, 259), ids.narrow(1, 1, 255).reshape(-1)).backward();
        opt.step();
        return logits.sum().item();
      });
    step();
    const s0 = performance.now();
    for (let i = 0; i < 5; i++) step();
    results.bench.sftStepMs = (performance.now() - s0) / 5;
    results.bench.sftTokensPerSecond = (8 * 255) / (results.bench.sftStepMs / 1000);
    opt.dispose();
    m.dispose();
    ids.dispose();
    const py = spawnSync(
      process.env.PYTHON ?? 'python3',
      [
        join(root, 'scripts', 'bench', 'gpt_reference.py'),
        JSON.stringify({ ...size, batch: 8, promptLen: 32, newTokens: 128, warmup: 1, repeats: 3, useCache: true, threads: 1, device }),
      ],
      { encoding: 'utf8' },
    );
    if (py.status === 0) {
      const times = JSON.parse(py.stdout.trim().split('\n').pop()).times;
      results.bench.pythonGenerateTokensPerSecond = (8 * 128) / Math.min(...times);
    } else results.bench.pythonError = py.stderr.slice(-500);
    return results.bench;
  });
}
writeFileSync(join(out, 'gpu-check.json'), `${JSON.stringify(results, null, 2)}\n`);
const md = [
  `# GPU check ${results.date}`,
  '',
  `libtorch ${results.libtorch.libtorch}, CUDA available: ${results.cudaAvailable}, devices: ${results.deviceCount}, ran on: ${device}`,
  '',
  ...results.checks.map((c) => `- ${c.ok ? 'ok' : 'FAIL'} ${c.name}${c.ok ? ` (${c.ms} ms)` : `: ${c.error}`}`),
  '',
  '```json',
  JSON.stringify(results.bench, null, 2),
  '```',
];
writeFileSync(join(out, 'gpu-check.md'), `${md.join('\n')}\n`);
console.log(md.join('\n'));
process.exitCode = results.checks.every((c) => c.ok) ? 0 : 1;
