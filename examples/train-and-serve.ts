// Training inside a service: one Node process serves HTTP while it fine-tunes the model it serves.
// `await trainer.train()` runs the forward, backward and optimizer steps on the library's compute
// thread, so the event loop stays free for requests: /health answers in milliseconds during
// training, /generate samples from the model as it is (generation also runs off the JS thread),
// and POST /stop cancels the run through an AbortSignal (the run stops within one micro-batch and
// keeps its last complete checkpoint). See docs/guide.md, "Training inside a service".
//
//   npx tsc -p examples && node examples/dist/train-and-serve.js   (TINY=1: a seconds-long run that
//   also plays the client: it polls /health during training and prints the slowest answer)
import { createServer, get as httpGet, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ByteTokenizer, GPT, SFTTrainer, generateText, type SFTExample } from 'torch-rlhf';

const tiny = process.env.TINY === '1';
const out = process.env.OUT ?? 'runs/example-train-and-serve';

const tokenizer = new ByteTokenizer();
const model = GPT.create({ vocabSize: tokenizer.vocabSize, blockSize: 96, nLayer: 4, nHead: 4, nEmbd: 128 });
// Demonstrations: "n+m=" → the sum.
const demos: SFTExample[] = Array.from({ length: 256 }, (_, i) => {
  const [a, b] = [i % 17, (i * 7) % 23];
  return { kind: 'prompt-completion', prompt: `${a}+${b}=`, completion: String(a + b) };
});
const trainer = new SFTTrainer({
  model,
  tokenizer,
  trainDataset: demos,
  config: { outputDir: out, maxSteps: tiny ? 12 : 400, batchSize: 16, learningRate: 3e-3, saveSteps: tiny ? 4 : 100, progressBar: false },
});
let step = 0;
trainer.addCallback({ onStep: (s) => void (step = s.globalStep) });
const controller = new AbortController();

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/health') return json(res, 200, { ok: true, step, training: !controller.signal.aborted });
  if (url.pathname === '/generate') {
    const prompt = url.searchParams.get('prompt') ?? '3+4=';
    const [text] = await generateText(model, tokenizer, [prompt], { maxNewTokens: 4, greedy: true });
    return json(res, 200, { prompt, text });
  }
  if (url.pathname === '/stop' && req.method === 'POST') {
    controller.abort();
    return json(res, 202, { stopping: true });
  }
  json(res, 404, { error: 'not found' });
}
const server = createServer((req, res) => void handle(req, res).catch((err: unknown) => json(res, 500, { error: String(err) })));
await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? (tiny ? 0 : 8080)), resolve));
const base = `http://localhost:${(server.address() as AddressInfo).port}`;
console.log(`serving on ${base} (/health, /generate?prompt=…, POST /stop) while training`);

// With TINY=1 this process is its own client: /health every 20 ms and one /generate mid-run.
const get = (path: string) =>
  new Promise<string>((resolve, reject) =>
    httpGet(`${base}${path}`, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject),
  );
const latencies: number[] = [];
let generated = '';
let done = false;
const client = tiny
  ? (async () => {
      while (!done) {
        const t0 = performance.now();
        await get('/health');
        latencies.push(performance.now() - t0);
        if (latencies.length === 10) generated = (JSON.parse(await get('/generate?prompt=3%2B4%3D')) as { text: string }).text;
        await new Promise((r) => setTimeout(r, 20));
      }
    })()
  : Promise.resolve();

try {
  const result = await trainer.train({ signal: controller.signal });
  console.log(`trained ${result.globalStep} steps, loss ${result.metrics.loss?.toFixed(3)}`);
} catch (err) {
  if (!(err instanceof DOMException && err.name === 'AbortError')) throw err;
  console.log(`stopped at step ${trainer.step}; the last checkpoint is kept in ${out}`);
} finally {
  done = true;
}
await client;
if (tiny) {
  console.log(`/health: ${latencies.length} requests during training, slowest ${Math.max(...latencies).toFixed(1)} ms`);
  console.log(`/generate during training: ${JSON.stringify(generated)}`);
}
if (!tiny) await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
server.close();
trainer.dispose();
model.dispose();
