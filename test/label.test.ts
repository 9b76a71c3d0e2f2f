/// <reference lib="dom" />
// rlhf label in a real browser: puppeteer-core drives Debian's Chromium (the one the report test
// uses) against the command's own server. A person ranks answers sampled from a tiny SFT model,
// three prompts by keyboard and one by dragging, with the server killed (-9) mid-session and
// restarted; the JSONL holds exactly those rankings and `rlhf rm` trains on them. Then answers
// holding <script> and <img onerror> are judged in pairs mode and stay inert, and writes without
// the session token are refused. The lease queue and the statistics are checked without a browser.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPreferenceDataset } from '../src/data/datasets.js';
import { appendLineDurable, dropTornTail } from '../src/io/append.js';
import { LabelQueue } from '../src/label/queue.js';
import { kendallTau, labelStats } from '../src/label/stats.js';
import { CLI, expectOneLineError, rlhfIn } from './cli-helpers.js';
import { tempDir, words } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const tmp = tempDir('label');
const rlhf = rlhfIn(tmp);
const jsonl = (name: string, rows: unknown[]): void => writeFileSync(join(tmp, name), rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
const readJsonlRows = (name: string): Record<string, unknown>[] =>
  readFileSync(join(tmp, name), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));

/** Starts `rlhf label …` and resolves with its URL once it serves (and everything it said on stderr). */
function startLabel(args: string[]): Promise<{ proc: ChildProcess; url: string; err: () => string }> {
  const proc = spawn(process.execPath, [CLI, 'label', ...args, '--port', '0'], { cwd: tmp, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  return new Promise((resolve, reject) => {
    proc.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /open (http:\/\/\S+)/.exec(err);
      if (m) resolve({ proc, url: m[1]!, err: () => err });
    });
    proc.on('exit', (code) => reject(new Error(`rlhf label exited (${code}): ${err}`)));
  });
}

const stopped = (proc: ChildProcess, signal: NodeJS.Signals): Promise<void> =>
  new Promise((resolve) => {
    proc.removeAllListeners('exit');
    proc.once('exit', () => resolve());
    proc.kill(signal);
  });

let browser: Browser;
beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run \`bash scripts/setup.sh --test\` (Debian's chromium package)`);
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
});
afterAll(async () => {
  await browser?.close();
});

/** Opens the page, gives the name, and waits for the first prompt. */
async function open(url: string, name: string): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 900, height: 700 });
  await page.goto(url);
  await page.waitForSelector('body[data-state="name"]');
  await page.type('#name', name);
  await page.keyboard.press('Enter');
  await page.waitForSelector('body[data-state="ready"]');
  return page;
}

/** The answers as the page shows them, top to bottom: their key and text. */
const shown = (page: Page): Promise<{ key: string; text: string }[]> =>
  page.$$eval('#answers li', (lis) =>
    lis.map((li) => ({ key: (li as HTMLElement).dataset.key!, text: li.querySelector('.text')!.textContent! })),
  );

/** Submits with Enter and waits for the next prompt (or the end) after `done` prompts are done. */
async function submitAndWait(page: Page, done: number): Promise<void> {
  await page.keyboard.press('Enter');
  await page.waitForFunction((n) => document.getElementById('progress')!.textContent!.startsWith(`${n} done`), {}, done);
  await page.waitForSelector('body[data-state="ready"], body[data-state="finished"]');
}

/** Ranks the current prompt by number keys: keys[0] best; returns the prompt and the texts best first. */
async function rankByKeys(page: Page, keys: number[], done: number): Promise<{ prompt: string; completions: string[] }> {
  const prompt = await page.$eval('#prompt', (e) => e.textContent!);
  const before = await shown(page);
  for (const k of keys) await page.keyboard.press(String(k) as '1');
  const order = [...keys, ...before.map((a) => Number(a.key)).filter((k) => !keys.includes(k))];
  const completions = order.map((k) => before.find((a) => a.key === String(k))!.text);
  expect((await shown(page)).map((a) => a.text)).toEqual(completions);
  await submitAndWait(page, done);
  return { prompt, completions };
}

describe('rlhf label', () => {
  it('ranks sampled answers by keyboard and drag, survives kill -9, and rlhf rm trains on the rankings', async () => {
    jsonl(
      'sft.jsonl',
      Array.from({ length: 16 }, (_, i) => ({ prompt: `Q${i}:`, completion: ` answer ${i}` })),
    );
    jsonl(
      'prompts.jsonl',
      Array.from({ length: 4 }, (_, i) => ({ prompt: `Q${i}:` })),
    );
    let r = rlhf(...words('sft --model tiny --data sft.jsonl --out sft --max-steps 1 --progress-bar false'));
    expect(r.code, r.err).toBe(0);
    const args = words('--model sft --prompts prompts.jsonl --out rankings.jsonl --k 3 --max-new-tokens 6 --seed 3');
    let server = await startLabel(args);
    expect(server.err()).toMatch(/sampling 3 answers for each of 4 prompt/);
    let page = await open(server.url, 'alice');
    expect(await page.$eval('#progress', (e) => e.textContent)).toBe('0 done · 4 left of 4');
    expect((await shown(page)).length).toBe(3);
    const expected = [await rankByKeys(page, [3, 1], 1), await rankByKeys(page, [2, 3], 2)];
    // Killed mid-session: what was submitted is on disk, the lease in flight is simply handed out again.
    await stopped(server.proc, 'SIGKILL');
    expect(readJsonlRows('rankings.jsonl').map((x) => ({ prompt: x.prompt, completions: x.completions }))).toEqual(expected);
    server = await startLabel(args);
    expect(server.err()).not.toMatch(/sampling/); // the same answers as before, from rankings.samples.jsonl
    expect(server.err()).toMatch(/2 of 4 prompt\(s\) done/);
    await page.close();
    page = await open(server.url, 'alice');
    expected.push(await rankByKeys(page, [1, 3], 3));
    // The last one by dragging the bottom answer to the top.
    const before = await shown(page);
    const prompt = await page.$eval('#prompt', (e) => e.textContent!);
    const boxes = await Promise.all((await page.$$('#answers li')).map((h) => h.boundingBox()));
    const [top, bottom] = [boxes[0]!, boxes[boxes.length - 1]!];
    await page.mouse.move(bottom.x + bottom.width / 2, bottom.y + bottom.height / 2);
    await page.mouse.down();
    await page.mouse.move(top.x + top.width / 2, top.y + 2, { steps: 8 });
    await page.mouse.up();
    const after = await shown(page);
    expect(after[0]).toEqual(before[before.length - 1]);
    expected.push({ prompt, completions: after.map((a) => a.text) });
    await submitAndWait(page, 4);
    await page.waitForSelector('body[data-state="finished"]');
    await page.close();
    await stopped(server.proc, 'SIGTERM');

    const rows = readJsonlRows('rankings.jsonl');
    expect(rows.map((x) => ({ prompt: x.prompt, completions: x.completions }))).toEqual(expected);
    for (const row of rows) {
      expect(row.annotator).toBe('alice');
      expect(Number.isNaN(Date.parse(row.timestamp as string))).toBe(false);
    }
    r = rlhf(...words('rm --model sft --data rankings.jsonl --out rm --max-steps 2 --batch-size 2 --progress-bar false'));
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out.trim().split('\n').pop()!)).toMatchObject({ stage: 'rm' });
    r = rlhf('label', '--stats', 'rankings.jsonl');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/4 judgement\(s\)/);
    expect(r.out).toMatch(/alice: 4/);
  });

  it('shows answers with <script> and <img onerror> as text in pairs mode, and refuses writes without the token', async () => {
    const payloads = [
      `<script>document.body.setAttribute('data-pwned','script')</script>`,
      `<img src=x onerror="document.body.setAttribute('data-pwned','img')">`,
    ];
    const prompt = `<img src=y onerror="document.body.setAttribute('data-pwned','prompt')">`;
    jsonl(
      'answers.jsonl',
      payloads.map((completion) => ({ prompt, completion })),
    );
    const server = await startLabel(words('--answers answers.jsonl --mode pairs --out pairs.jsonl'));
    try {
      const page = await open(server.url, 'bob');
      expect(await page.$eval('#prompt', (e) => e.textContent)).toBe(prompt);
      const answers = await shown(page);
      expect(answers.map((a) => a.text).sort()).toEqual([...payloads].sort());
      expect(await page.$$eval('#answers img, #prompt img, #answers script', (x) => x.length)).toBe(0);
      const better = answers.find((a) => a.text === payloads[1])!;
      await page.keyboard.press(better.key as '1');
      await submitAndWait(page, 1);
      await page.waitForSelector('body[data-state="finished"]');
      expect(await page.evaluate(() => document.body.getAttribute('data-pwned'))).toBeNull();
      expect(readJsonlRows('pairs.jsonl')).toMatchObject([{ prompt, chosen: payloads[1], rejected: payloads[0], annotator: 'bob' }]);

      const post = (headers: Record<string, string>) =>
        fetch(`${server.url}api/next`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: '{"annotator":"eve"}',
        });
      expect((await post({})).status).toBe(403);
      expect((await post({ 'x-label-token': '0'.repeat(32) })).status).toBe(403);
      const token = await page.$eval('meta[name="label-token"]', (m) => (m as HTMLMetaElement).content);
      expect((await post({ 'x-label-token': token })).status).toBe(200);
      // A page of another site reaching the server through DNS rebinding names its own host.
      const rebound = await new Promise<number>((resolve, reject) => {
        const req = request(`${server.url}api/next`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-label-token': token, host: 'evil.example' },
        });
        req.on('response', (res) => resolve(res.statusCode!)).on('error', reject);
        req.end('{"annotator":"eve"}');
      });
      expect(rebound).toBe(403);
      await page.close();
    } finally {
      await stopped(server.proc, 'SIGTERM');
    }
  });

  it('records unacceptable answers and ties given by keyboard, in fields rlhf rm ignores, and thumbs in binary mode', async () => {
    jsonl(
      'three.jsonl',
      ['best', 'tied', 'awful'].map((completion) => ({ prompt: 'P', completion })),
    );
    let server = await startLabel(words('--answers three.jsonl --out marked.jsonl'));
    let page = await open(server.url, 'cy');
    const key = async (text: string): Promise<string> => (await shown(page)).find((a) => a.text === text)!.key;
    await page.keyboard.press((await key('best')) as '1');
    await page.keyboard.press((await key('tied')) as '1'); // the last one follows
    await page.focus(`#answers li[data-key="${await key('tied')}"]`);
    await page.keyboard.press('=');
    await page.focus(`#answers li[data-key="${await key('awful')}"]`);
    await page.keyboard.press('x');
    await submitAndWait(page, 1);
    await stopped(server.proc, 'SIGTERM');
    const [row] = readJsonlRows('marked.jsonl');
    expect(row).toMatchObject({ prompt: 'P', completions: ['best', 'tied', 'awful'], ties: [[0, 1]], unacceptable: [2], annotator: 'cy' });
    expect((await loadPreferenceDataset(join(tmp, 'marked.jsonl'))).examples).toEqual([
      { prompt: 'P', completions: ['best', 'tied', 'awful'] },
    ]);

    server = await startLabel(words('--answers three.jsonl --mode binary --out thumbs.jsonl'));
    page = await open(server.url, 'cy');
    await page.keyboard.press('Enter'); // not every answer is labelled yet: nothing is written
    expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/Label every answer/);
    for (const a of await shown(page)) {
      await page.focus(`#answers li[data-key="${a.key}"]`);
      await page.keyboard.press(a.text === 'awful' ? 'n' : 'y');
    }
    await submitAndWait(page, 1);
    await stopped(server.proc, 'SIGTERM');
    const labels = Object.fromEntries(readJsonlRows('thumbs.jsonl').map((x) => [x.completion, x.label]));
    expect(labels).toEqual({ best: true, tied: true, awful: false });
  });

  it('names the file, line and field of a malformed prompts file', () => {
    writeFileSync(join(tmp, 'bad-prompts.jsonl'), '{"prompt":"ok"}\n{"promt":"typo"}\n');
    expectOneLineError(
      rlhf(...words('label --model sft --prompts bad-prompts.jsonl --out x.jsonl')),
      /bad-prompts\.jsonl:2: .*field 'prompt'/,
    );
  });
});

describe('label queue and statistics', () => {
  it('hands each prompt to whoever asks next, takes it back when the lease expires, and resumes', () => {
    let t = 0;
    const items = ['a', 'b', 'c'].map((prompt) => ({ prompt, answers: ['x', 'y'] }));
    const q = new LabelQueue(items, 1, 1000, () => t);
    q.markDone('a', 'ann');
    const l1 = q.next('bo')!;
    expect(items[l1.item]!.prompt).toBe('b');
    expect(q.next('bo')).toBe(l1); // a reload gets the same prompt
    const l2 = q.next('cy')!;
    expect(items[l2.item]!.prompt).toBe('c');
    expect(q.next('di')).toBeNull(); // everything is done or leased
    t = 2000;
    expect(items[q.next('di')!.item]!.prompt).toBe('b'); // bo's lease expired
    q.complete(q.take(l2.id, 'cy'));
    expect(q.progress()).toEqual({ done: 2, left: 1, total: 3 });
    q.skip(q.next('di')!.id, 'di'); // di gives b back and is not offered it again
    expect(q.next('di')).toBeNull();
    expect(items[q.next('cy')!.item]!.prompt).toBe('b');
  });

  it('cuts off a line torn by a crash mid-write, keeping the complete ones', () => {
    const path = join(tmp, 'torn.jsonl');
    appendLineDurable(path, '{"a":1}');
    appendFileSync(path, '{"a":2, "b"');
    expect(dropTornTail(path)).toEqual({ lines: ['{"a":1}'], cut: 11 });
    expect(readFileSync(path, 'utf8')).toBe('{"a":1}\n');
    expect(() => appendLineDurable(path, 'two\nlines')).toThrow(/newline/);
  });

  it("computes Kendall's tau and agreement between annotators", () => {
    expect(kendallTau(['a', 'b', 'c'], ['a', 'b', 'c'])).toBe(1);
    expect(kendallTau(['a', 'b', 'c'], ['c', 'b', 'a'])).toBe(-1);
    expect(kendallTau(['a', 'b', 'c'], ['a', 'c', 'b'])).toBeCloseTo(1 / 3);
    jsonl('two.jsonl', [
      { prompt: 'p', completions: ['a', 'b', 'c'], annotator: 'x', timestamp: 't' },
      { prompt: 'p', completions: ['c', 'b', 'a'], annotator: 'y', timestamp: 't' },
      { prompt: 'q', completions: ['a', 'b'], annotator: 'y', timestamp: 't' },
      { prompt: 'q', chosen: 'a', rejected: 'b', annotator: 'x', timestamp: 't' },
      { prompt: 'q', chosen: 'a', rejected: 'b', annotator: 'y', timestamp: 't' },
    ]);
    const s = labelStats(join(tmp, 'two.jsonl'));
    expect(s.byAnnotator).toEqual({ x: 2, y: 3 });
    expect(s.agreement.rank).toEqual({ comparisons: 1, value: -1 });
    expect(s.agreement.pairs).toEqual({ comparisons: 1, value: 1 });
  });
});
