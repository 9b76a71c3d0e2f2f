// rlhf label: people rank a model's answers in a local web page, and the rankings feed `rlhf rm`
// (or, with --mode pairs, DPO; with --mode binary, KTO). The answers are sampled from --model for
// the --prompts (K per prompt, kept in OUT.samples.jsonl, the `rlhf generate` format, so a
// restart shows the same answers without sampling again), or read from --answers files (rlhf
// generate output, e.g. of two models). Judgements are appended durably to --out, which is also
// what a restart resumes from. `--stats FILE` prints counts per annotator and their agreement.
import { basename, dirname, join } from 'node:path';
import { existsSync, mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import { type LoadDatasetOptions, loadPromptDataset, readExamples, type SkippedLine } from '../data/datasets.js';
import { parseSFTExample } from '../data/formats.js';
import { appendLineDurable, dropTornTail } from '../io/append.js';
import { LabelQueue, type LabelItem } from '../label/queue.js';
import { LABEL_MODES, labelOf, type LabelMode } from '../label/records.js';
import { startLabelServer } from '../label/server.js';
import { formatLabelStats, labelStats } from '../label/stats.js';
import { GPT } from '../models/gpt.js';
import { parseDevice } from '../tensor/types.js';
import { generateText } from '../text/generate.js';
import { pickDevice } from '../trainers/trainer.js';
import { loadData, reportSkipped, requireFile, str, type Opts } from './inputs.js';
import { addBaseModelFlag, tokenizerOf } from './lora.js';
import { addSkipInvalidFlag } from './options.js';
import { addSamplingFlags, samplingFromFlags } from './sampling.js';

/** Registers `rlhf label`. */
export function addLabelCommand(program: Command): void {
  const cmd = program
    .command('label')
    .description("a local web page where people rank a model's answers (for `rlhf rm`), pick the better of two, or label each good or bad")
    .option('--model <dir>', 'the model whose answers are judged (an SFT run directory, say)')
    .option('--prompts <prompts.jsonl>', '{prompt} lines to sample answers for')
    .option('--answers <answers.jsonl...>', 'judge these {prompt, completion} lines (`rlhf generate` output) instead of sampling')
    .option('--out <rankings.jsonl>', 'where the judgements are appended (and resumed from)')
    .option(
      '--mode <mode>',
      `rank (K-wise, for rlhf rm), pairs ({prompt, chosen, rejected}, for DPO) or binary ({prompt, completion, label}, for KTO)`,
      'rank',
    )
    .option('--k <n>', 'answers sampled per prompt (pairs: 2)', '4')
    .option('--per-prompt <n>', 'judgements wanted per prompt, each from a different person (more than 1 measures agreement)', '1')
    .option('--lease-seconds <s>', 'how long a prompt stays with the person it was handed to before others may get it', '600')
    .option('--host <host>', 'the address to listen on (another than 127.0.0.1 exposes the page to the network)', '127.0.0.1')
    .option('--port <port>', 'the port (0 = any free one)', '8787')
    .option('--batch-size <n>', 'prompts per generation call', '16')
    .option('--device <device>', "'auto', 'cpu', 'cuda' or 'cuda:N'", 'auto')
    .option('--stats <rankings.jsonl>', 'print counts per annotator and their agreement for a file of judgements, and exit');
  addSkipInvalidFlag(addBaseModelFlag(addSamplingFlags(cmd, '1'))).action(label);
}

const int = (o: Opts, key: string, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
  const v = Number(o[key]);
  if (!Number.isInteger(v) || v < min || v > max)
    throw new Error(`${flag} expects an integer from ${min}${max < 1e9 ? ` to ${max}` : ''}, got '${String(o[key])}'`);
  return v;
};

/** The {prompt, completion} lines of answer files grouped by prompt, each answer once, in file order. */
async function readAnswers(paths: readonly string[], options: LoadDatasetOptions, flag: string): Promise<Map<string, string[]>> {
  const byPrompt = new Map<string, string[]>();
  const parse = (v: unknown): { prompt: string; completion: string } => {
    const ex = parseSFTExample(v);
    if (ex.kind !== 'prompt-completion') throw new Error("expected {prompt, completion} (the `rlhf generate` format), not 'messages'");
    return ex;
  };
  for (const path of paths) {
    const skipped: SkippedLine[] = [];
    for await (const { example } of readExamples(requireFile(path, flag), parse, options, skipped)) {
      const list = byPrompt.get(example.prompt) ?? [];
      if (!list.includes(example.completion)) list.push(example.completion);
      byPrompt.set(example.prompt, list);
    }
    reportSkipped(skipped, path);
  }
  return byPrompt;
}

/** The judgements already in `out` (a torn last line, from a crash mid-write, is cut off). */
function resume(out: string, mode: LabelMode): { prompt: string; annotator: string }[] {
  const { lines, cut } = dropTornTail(out);
  if (cut) console.error(`rlhf label: ${out}: cut off an incomplete last line (${cut} bytes) left by an interrupted write`);
  const done: { prompt: string; annotator: string }[] = [];
  lines.forEach((text, i) => {
    if (text.trim() === '') return;
    let l: ReturnType<typeof labelOf>;
    try {
      l = labelOf(JSON.parse(text));
    } catch (e) {
      throw new Error(`${out}:${i + 1}: ${(e as Error).message}`);
    }
    if (l.mode !== mode)
      throw new Error(`${out}:${i + 1}: holds ${l.mode} judgements, not ${mode} (give --mode ${l.mode}, or another --out)`);
    done.push(l);
  });
  return done;
}

/** Samples up to k distinct answers for each prompt (a few rounds, for prompts whose samples repeat) and appends them to `cache`. */
async function sampleAnswers(o: Opts, prompts: string[], k: number, cache: string, into: Map<string, string[]>): Promise<void> {
  const device = pickDevice(parseDevice(o.device ?? 'auto', '--device', true));
  const model = await GPT.load(str(o, 'model'), { device, baseModel: o.baseModel as string | undefined });
  try {
    const tok = await tokenizerOf(str(o, 'model'), model);
    const sampling = samplingFromFlags(o, model);
    const batchSize = int(o, 'batchSize', '--batch-size', 1);
    console.error(`rlhf label: sampling ${k} answers for each of ${prompts.length} prompt(s)…`);
    for (const p of prompts) if (!into.has(p)) into.set(p, []);
    for (let round = 0; round < 3; round++) {
      const needy = prompts.filter((p) => into.get(p)!.length < k);
      if (needy.length === 0) break;
      const asked = needy.flatMap((p) => Array<string>(k - into.get(p)!.length).fill(p));
      const seed = sampling.seed === undefined ? undefined : sampling.seed + round;
      const answers = await generateText(model, tok, asked, { ...sampling, seed, batchSize: batchSize * k });
      asked.forEach((p, i) => {
        const list = into.get(p)!;
        if (list.length < k && !list.includes(answers[i]!)) {
          list.push(answers[i]!);
          appendLineDurable(cache, JSON.stringify({ prompt: p, completion: answers[i] }));
        }
      });
    }
  } finally {
    model.dispose();
  }
}

export async function label(o: Opts): Promise<void> {
  if (o.stats !== undefined) {
    const path = requireFile(str(o, 'stats'), '--stats');
    console.log(formatLabelStats(path, labelStats(path)));
    return;
  }
  const mode = str(o, 'mode') as LabelMode;
  if (!LABEL_MODES.includes(mode)) throw new Error(`--mode expects ${LABEL_MODES.join(', ')}, got '${mode}'`);
  if (!o.out) throw new Error('--out is required: the file the judgements are appended to (rankings.jsonl)');
  const out = str(o, 'out');
  const answerFiles = (o.answers as string[] | undefined) ?? [];
  if (answerFiles.length && (o.model || o.prompts)) throw new Error('give either --answers, or --model with --prompts, not both');
  if (!answerFiles.length && !(o.model && o.prompts)) throw new Error('give --model and --prompts (to sample answers), or --answers');
  const k = mode === 'pairs' ? 2 : int(o, 'k', '--k', mode === 'binary' ? 1 : 2, 9);
  const perPrompt = int(o, 'perPrompt', '--per-prompt', 1);
  const leaseSeconds = Number(o.leaseSeconds);
  if (!(leaseSeconds > 0)) throw new Error(`--lease-seconds expects a positive number, got '${String(o.leaseSeconds)}'`);
  const port = int(o, 'port', '--port', 0, 65535);
  const options = { skipInvalid: !!o.skipInvalid };
  // Bad data fails before the model is loaded.
  let answers: Map<string, string[]>;
  let prompts: string[];
  if (answerFiles.length) {
    answers = await readAnswers(answerFiles, options, '--answers');
    prompts = [...answers.keys()];
  } else {
    const rows = await loadData(loadPromptDataset, o, '--prompts');
    // The judgement files hold text prompts (what rlhf rm, dpo and kto read back); conversations are not judged yet.
    const chat = rows.findIndex((e) => typeof e.prompt !== 'string');
    if (chat >= 0) throw new Error(`--prompts: row ${chat + 1} is a conversation; rlhf label takes text prompts ({"prompt": "…"})`);
    prompts = [...new Set(rows.map((e) => e.prompt as string))];
    requireFile(str(o, 'model'), '--model');
  }
  mkdirSync(dirname(out), { recursive: true });
  const done = resume(out, mode);
  if (!answerFiles.length) {
    const cache = join(dirname(out), `${basename(out).replace(/\.jsonl$/, '')}.samples.jsonl`);
    dropTornTail(cache);
    answers = await readAnswers(existsSync(cache) ? [cache] : [], options, cache);
    const doneCount = new Map<string, number>();
    for (const d of done) doneCount.set(d.prompt, (doneCount.get(d.prompt) ?? 0) + 1);
    const missing = prompts.filter((p) => (answers.get(p)?.length ?? 0) < k && (doneCount.get(p) ?? 0) < perPrompt);
    if (missing.length) await sampleAnswers(o, missing, k, cache, answers);
  }
  const min = mode === 'binary' ? 1 : 2;
  const items: LabelItem[] = [];
  let few = 0;
  for (const prompt of prompts) {
    const list = (answers!.get(prompt) ?? []).slice(0, k);
    if (list.length < min) few++;
    else items.push({ prompt, answers: list });
  }
  if (few) console.error(`rlhf label: ${few} prompt(s) left out: fewer than ${min} distinct answers`);
  if (items.length === 0) throw new Error('no prompt has enough distinct answers to judge');
  const queue = new LabelQueue(items, perPrompt, leaseSeconds * 1000);
  for (const d of done) queue.markDone(d.prompt, d.annotator);
  const server = await startLabelServer({ queue, mode, out, host: str(o, 'host'), port });
  const p = queue.progress();
  console.error(`rlhf label: ${p.done} of ${p.total} prompt(s) done; open ${server.url} (Ctrl-C stops; judgements go to ${out})`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  server.server.closeAllConnections();
  await server.close();
  const end = queue.progress();
  console.error(`rlhf label: stopped with ${end.done} of ${end.total} prompt(s) done → ${out}`);
}
