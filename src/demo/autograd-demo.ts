// A small autograd demo (the main job until the RLHF stages land): fit a two-layer MLP to
// y = sin(3x) with AdamW, showing tidy() keeping native memory flat over the loop.
import { F, torch, type Tensor } from '../index.js';

const steps = Number(process.env.DEMO_STEPS ?? 500);
torch.manualSeed(0);

const x = torch.tidy(() => torch.linspace(-1, 1, 256).unsqueeze(1));
const y = torch.tidy(() => x.mul(3).sin());

// Parameters of a 1 → 64 → 1 MLP, initialised as torch.nn.Linear does (U(-1/√fanIn, 1/√fanIn)).
const init = (shape: number[], fanIn: number): Tensor => torch.tidy(() => torch.rand(shape).mul(2).sub(1).div(Math.sqrt(fanIn))).requiresGrad_();
const params = { w1: init([64, 1], 1), b1: init([64], 1), w2: init([1, 64], 64), b2: init([1], 64) };
const opt = new torch.optim.AdamW(Object.values(params), { lr: 1e-2, weightDecay: 0 });

const baseline = torch.memory().tensors;
const t0 = performance.now();
for (let step = 1; step <= steps; step++) {
  const loss = torch.tidy(() => {
    const h = F.linear(x, params.w1, params.b1).gelu('tanh');
    const pred = F.linear(h, params.w2, params.b2);
    const l = F.mseLoss(pred, y);
    opt.zeroGrad();
    l.backward();
    torch.nn.utils.clipGradNorm(Object.values(params), 1.0);
    opt.step();
    return l.item();
  });
  if (step === 1 || step % 100 === 0 || step === steps)
    console.log(`step ${String(step).padStart(4)}  loss ${loss.toFixed(5)}  live tensors ${torch.memory().tensors - baseline}`);
}
const ms = performance.now() - t0;
console.log(`\n${steps} AdamW steps in ${(ms / 1000).toFixed(2)} s (${(ms / steps).toFixed(2)} ms/step) on libtorch ${torch.version().libtorch}, ${torch.getNumThreads()} thread(s)`);
