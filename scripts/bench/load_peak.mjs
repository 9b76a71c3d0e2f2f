// How much memory loading a checkpoint takes (issue 31): in a fresh Node process, the resident
// size before GPT.load, the peak during it (getrusage's maxRSS) and after it, beside the bytes of
// the loaded weights and of the CPU allocator's cache. Its twin for transformers'
// from_pretrained is scripts/bench/load_peak.py.
//   node scripts/bench/load_peak.mjs .cache/realsize/qwen2.5-0.5b [float32|bfloat16|auto]
import { GPT, torch } from '../../dist/index.js';

const [dir, dtype = 'float32'] = process.argv.slice(2);
if (!dir) throw new Error('usage: node scripts/bench/load_peak.mjs MODEL_DIR [DTYPE]');
const MiB = 2 ** 20;
const before = process.memoryUsage().rss;
const t0 = performance.now();
const model = await GPT.load(dir, { dtype });
const seconds = (performance.now() - t0) / 1000;
const weights = torch.memory().bytes; // the model's tensors are the only live ones
const after = process.memoryUsage().rss;
const peak = process.resourceUsage().maxRSS * 1024;
const mib = (n) => Math.round(n / MiB);
console.log(
  JSON.stringify({
    side: 'torch-rlhf',
    dtype,
    seconds: Math.round(seconds * 100) / 100,
    weightsMiB: mib(weights),
    beforeMiB: mib(before),
    peakMiB: mib(peak),
    afterMiB: mib(after),
    peakOverBeforeMiB: mib(peak - before),
    peakOverWeightsMiB: mib(peak - before - weights),
    cachedMiB: mib(torch.memory().cachedBytes),
  }),
);
model.dispose();
