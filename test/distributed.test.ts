// Data-parallel training on c10d (src/distributed/): 2 processes on loopback with Gloo, 1 thread
// each, started by hand with torchrun's environment, by `rlhf launch` and by torchrun itself.
// After N steps 2 processes hold the same parameters as 1 process with the combined batch (SFT
// and GRPO, to 1e-5); a dead or frozen rank (rank 0, which hosts the TCPStore, included) makes
// the other fail within the timeout, naming it; `rlhf launch` then stops a frozen rank with
// SIGKILL and exits; a port in use, a rank that never joins and a resume at another world size
// are clear errors; resuming at world size 2 is exact. Every multi-process run has a hard
// timeout: nothing here can hang.
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadSafetensors, ProcessGroup, launchEnv, shardBatch, bucketsOf, torch } from '../src/index.js';
import { tempDir } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const worker = join(root, 'test', 'fixtures', 'distributed', 'worker.mjs');
const collectives = join(root, 'test', 'fixtures', 'distributed', 'collectives.mjs');
const cli = join(root, 'dist', 'cli', 'index.js');
const torchrun = join(root, '.venv', 'bin', 'torchrun');
const tmp = tempDir('dist');
beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run npm run build:ts');
});

/** A port nobody listens on (the OS's pick, released again). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

interface Run {
  code: number | null;
  out: string;
  err: string;
  ms: number;
}
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, { env: { ...process.env, OMP_NUM_THREADS: '1', ...env }, cwd: tmp });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, ms: Date.now() - t0 });
    });
  });
}
const noLaunchEnv = { RANK: '', WORLD_SIZE: '', LOCAL_RANK: '', MASTER_ADDR: '', MASTER_PORT: '' };
/** Ranks 0..world-1 of a script, each with torchrun's variables set by hand. */
async function ranks(script: string, args: string[], world: number, env: NodeJS.ProcessEnv = {}): Promise<Run[]> {
  const port = await freePort();
  return Promise.all(
    Array.from({ length: world }, (_, r) =>
      run(process.execPath, [script, ...args], {
        RANK: String(r),
        LOCAL_RANK: String(r),
        WORLD_SIZE: String(world),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        ...env,
      }),
    ),
  );
}
const single = (script: string, args: string[]) => run(process.execPath, [script, ...args], noLaunchEnv);
/** Runs an ES module's text with node, importing `imports` from dist/ (e.g. {ProcessGroup: 'index.js'}). */
const script = (imports: Record<string, string>, body: string, timeoutMs: number) =>
  run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      Object.entries(imports)
        .map(([name, file]) => `import { ${name} } from ${JSON.stringify(pathToFileURL(join(root, 'dist', file)).href)};\n`)
        .join('') + body,
    ],
    noLaunchEnv,
    timeoutMs,
  );
/**
 * A 2-rank SFT run whose rank `frozen` stops itself (SIGSTOP) at its 2nd step: its connections stay
 * open, but no collective and no heartbeat come. Resolves with the other rank's failed run.
 */
async function frozenRank(frozen: number, timeoutS: number, out: string): Promise<Run> {
  const port = await freePort();
  const env = (r: number) => ({
    RANK: String(r),
    WORLD_SIZE: '2',
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: String(port),
    TORCH_RLHF_DDP_TIMEOUT: String(timeoutS),
  });
  const args = job({ task: 'sft', out, batchSize: 2, steps: 6, stopAtStep: 2, failRank: frozen });
  const stopped = spawn(process.execPath, [worker, ...args], {
    env: { ...process.env, OMP_NUM_THREADS: '1', ...env(frozen) },
    stdio: 'ignore',
  });
  try {
    const r = await run(process.execPath, [worker, ...args], env(1 - frozen), 60_000);
    expect(r.code, `killed by the test's hard timeout after ${r.ms} ms:\n${r.err}`).not.toBeNull();
    expect(r.code).not.toBe(0);
    return r;
  } finally {
    stopped.kill('SIGKILL');
  }
}
/** Kills the process whose id a frozen rank wrote (SIGKILL ends a stopped process too). */
function killFrozen(pidFile: string): void {
  if (!existsSync(pidFile)) return;
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
  } catch {
    // already gone
  }
}
const result = (r: Run): { rank: number; checksum: number } => {
  const line = r.out.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line || r.code !== 0) throw new Error(`no result (exit ${r.code}):\n${r.out}\n${r.err}`);
  return JSON.parse(line.slice(7));
};

/** The largest difference between two saved models' tensors. */
async function maxDiff(dirA: string, dirB: string): Promise<number> {
  const [a, b] = [await loadSafetensors(join(dirA, 'model.safetensors')), await loadSafetensors(join(dirB, 'model.safetensors'))];
  try {
    const names = [...a.tensors.keys()].sort();
    expect(names.length).toBeGreaterThan(4);
    expect([...b.tensors.keys()].sort()).toEqual(names);
    let worst = 0;
    for (const k of names)
      worst = Math.max(
        worst,
        torch.tidy(() => a.tensors.get(k)!.sub(b.tensors.get(k)!).abs().max().item()),
      );
    return worst;
  } finally {
    torch.dispose([[...a.tensors.values()], [...b.tensors.values()]]);
  }
}
const job = (o: Record<string, unknown>) => [JSON.stringify(o)];

describe('process group (unit)', () => {
  it('reads torchrun and Slurm environments', () => {
    expect(launchEnv({})).toBeNull();
    expect(
      launchEnv({
        RANK: '1',
        WORLD_SIZE: '4',
        LOCAL_RANK: '1',
        MASTER_ADDR: 'n0',
        MASTER_PORT: '1234',
        TORCHELASTIC_USE_AGENT_STORE: 'True',
      }),
    ).toEqual({
      rank: 1,
      worldSize: 4,
      localRank: 1,
      masterAddr: 'n0',
      masterPort: 1234,
      agentStore: true,
      restart: 0,
    });
    expect(launchEnv({ SLURM_PROCID: '3', SLURM_NTASKS: '8', SLURM_LOCALID: '1', MASTER_ADDR: 'n0' })).toMatchObject({
      rank: 3,
      worldSize: 8,
      localRank: 1,
      masterPort: 29500,
    });
    expect(() => launchEnv({ WORLD_SIZE: '2' })).toThrow(/RANK is not/);
    expect(() => launchEnv({ WORLD_SIZE: 'two', RANK: '0' })).toThrow(/WORLD_SIZE must be a non-negative integer, got 'two'/);
  });

  it('shards a global batch as DistributedSampler, and buckets by size and dtype', () => {
    expect(shardBatch([0, 1, 2, 3, 4, 5], 0, 2)).toEqual([0, 2, 4]);
    expect(shardBatch([0, 1, 2, 3, 4, 5], 1, 2)).toEqual([1, 3, 5]);
    expect(shardBatch([0, 1, 2], 1, 2)).toEqual([1, 0]); // padded with the first items, as DistributedSampler pads
    const ts = [torch.zeros([4]), torch.zeros([4]), torch.zeros([4], { dtype: 'float64' }), torch.zeros([4])];
    expect(bucketsOf(ts, 32)).toEqual([[0, 1], [3], [2]]);
    torch.dispose(ts);
  });

  it('a port in use, a rank that never joins and an unreachable store are clear errors', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, () => r()));
    const port = (busy.address() as AddressInfo).port;
    try {
      await expect(ProcessGroup.init({ rank: 0, worldSize: 2, masterPort: port, joinTimeoutMs: 2000 }, {})).rejects.toThrow(
        new RegExp(`rank 0 of 2\\): MASTER_PORT ${port} on 127.0.0.1 is already in use`),
      );
    } finally {
      busy.close();
    }
    const free = await freePort();
    const t0 = Date.now();
    await expect(ProcessGroup.init({ rank: 0, worldSize: 3, masterPort: free, joinTimeoutMs: 1500 }, {})).rejects.toThrow(
      /ranks 1 and 2 have not joined within 1.5 s/,
    );
    expect(Date.now() - t0).toBeLessThan(10_000);
    await expect(ProcessGroup.init({ rank: 1, worldSize: 2, masterPort: await freePort(), joinTimeoutMs: 1500 }, {})).rejects.toThrow(
      // Nothing listens there: the connect fails at the join timeout, or, on a loaded machine, the store call's own limit fires first.
      /rank 1 of 2\): (could not reach the TCPStore at 127\.0\.0\.1:\d+ within 1\.5 s|rank 0 is frozen or unreachable)/,
    );
    await expect(ProcessGroup.init({ rank: 2, worldSize: 2 }, {})).rejects.toThrow(/RANK must be in \[0, 2\), got 2/);
    await expect(ProcessGroup.init({ backend: 'nccl' }, {})).rejects.toThrow(/nccl/);
  });

  it('a store that answers nothing (a frozen rank 0) fails the join within its timeout', { timeout: 60_000 }, async () => {
    const silent = createServer(() => {}); // what a rank 0 stopped with SIGSTOP looks like: its kernel accepts, nothing answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as AddressInfo).port;
    try {
      const r = await script(
        { ProcessGroup: 'index.js' },
        `await ProcessGroup.init({ rank: 1, worldSize: 2, masterPort: ${port}, joinTimeoutMs: 1500 }, {});`,
        40_000,
      );
      expect(r.code, r.err).toBe(1);
      expect(r.err).toMatch(
        /rank 1 of 2\): rank 0 is frozen or unreachable: the TCPStore it hosts at 127\.0\.0\.1:\d+ answered nothing within [\d.]+ s/,
      );
      expect(r.ms).toBeLessThan(20_000);
    } finally {
      silent.close();
    }
  });

  it('a group of one runs every collective', async () => {
    const g = await ProcessGroup.init({ rank: 0, worldSize: 1, masterPort: await freePort() }, {});
    const x = torch.tensor([1, 2, 3]);
    expect(() => g.allReduce(x, 'avg')).toThrow(/allReduce 'avg' needs a floating-point tensor, got Long \(use 'sum'\)/);
    await g.allReduce(x, 'sum').wait();
    expect(x.tolist()).toEqual([1, 2, 3]);
    const [y] = await g.allGather(x).wait();
    expect(y!.tolist()).toEqual([1, 2, 3]);
    await g.barrier().wait();
    const strided = torch
      .tensor([
        [1, 2],
        [3, 4],
      ])
      .t();
    expect(() => g.allReduce(strided, 'sum')).toThrow(/allReduce needs a contiguous tensor/);
    strided.dispose();
    g.destroy();
    expect(() => g.allReduce(x)).toThrow(/destroyed/);
    torch.dispose([x, y]);
  });
});

describe('2 ranks on loopback (Gloo, 1 thread each)', () => {
  it('every collective, and the bucketed gradient average keeps memory flat', async () => {
    const [a, b] = (await ranks(collectives, [], 2)).map((r) => {
      const line = r.out.split('\n').find((l) => l.startsWith('RESULT '));
      if (!line) throw new Error(`${r.out}\n${r.err}`);
      return JSON.parse(line.slice(7));
    });
    for (const r of [a, b]) {
      expect(r).toMatchObject({
        worldSize: 2,
        backend: 'gloo',
        sum: [3, 30],
        avg: [1.5, 15],
        max: [2, 20],
        min: [1, 10],
        product: [2, 200],
        broadcast: [1, 1, 1],
        allGather: [[[0, 0]], [[1, 2]]],
      });
      // d/dp of (r + 1)·Σp averaged: (1 + 2) / 2; the second parameter has a gradient on rank 0 only: (1 + 0) / 2.
      expect(r.grads.map((g: number[]) => [...new Set(g)])).toEqual([[1.5], [0.5], [1.5]]);
      expect(r.liveAfter).toBe(r.liveBefore);
      expect(r.metrics.loss).toBeCloseTo(2.5, 12); // (1·1 + 3·3) / (1 + 3)
    }
    expect(a.paramsSum).toBe(b.paramsSum); // rank 0's parameters, broadcast
  });

  it('SFT: 2 ranks × 2 examples equal 1 process × 4 after 4 steps (to 1e-5)', async () => {
    const two = await ranks(worker, job({ task: 'sft', out: join(tmp, 'sft-2'), batchSize: 2, steps: 4 }), 2);
    const one = await single(worker, job({ task: 'sft', out: join(tmp, 'sft-1'), batchSize: 4, steps: 4 }));
    const [r0, r1] = two.map(result);
    expect(r0!.checksum).toBe(r1!.checksum); // the ranks stay identical
    expect(result(one).checksum).toBeCloseTo(r0!.checksum, 3);
    expect(await maxDiff(join(tmp, 'sft-2'), join(tmp, 'sft-1'))).toBeLessThan(1e-5);
    // Rank 0 alone wrote the run: one metrics line per logged step, the loss over both ranks' tokens.
    const m2 = readFileSync(join(tmp, 'sft-2', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const m1 = readFileSync(join(tmp, 'sft-1', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(m2.map((m) => m.step)).toEqual(m1.map((m) => m.step));
    expect(m2.at(-1).loss).toBeCloseTo(m1.at(-1).loss, 5);
  });

  it("GRPO: 2 ranks equal 1 process updating on both ranks' batches after 3 steps (to 1e-5)", async () => {
    const two = await ranks(worker, job({ task: 'grpo', out: join(tmp, 'grpo-2'), batchSize: 4, steps: 3 }), 2);
    const one = await single(worker, job({ task: 'grpo-ref', out: join(tmp, 'grpo-1'), batchSize: 4, steps: 3 }));
    const [r0, r1] = two.map(result);
    expect(r0!.checksum).toBe(r1!.checksum);
    expect(result(one).checksum).toBeCloseTo(r0!.checksum, 3);
    expect(await maxDiff(join(tmp, 'grpo-2'), join(tmp, 'grpo-1'))).toBeLessThan(1e-5);
    expect(readdirSync(join(tmp, 'grpo-2'))).toEqual(expect.arrayContaining(['metrics.jsonl', 'model.safetensors', 'checkpoint-3']));
  });

  it.each(['dpo', 'ppo'])('%s: the ranks stay identical, and rank 0 alone writes the run', async (task) => {
    const out = join(tmp, `${task}-2`);
    const [r0, r1] = (await ranks(worker, job({ task, out, batchSize: 4, steps: 3 }), 2)).map(result);
    expect(r0!.checksum).toBe(r1!.checksum);
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).step);
    expect(steps).toEqual([1, 2, 3]);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
  });

  it('resume at world size 2 is exact (GRPO: each rank continues its own sampling), and another world size is refused', async () => {
    const full = join(tmp, 'resume-full');
    await ranks(worker, job({ task: 'grpo', out: full, batchSize: 4, steps: 4, saveSteps: 2 }), 2).then((rs) => rs.map(result));
    const part = join(tmp, 'resume-part');
    cpSync(join(full, 'checkpoint-2'), join(part, 'checkpoint-2'), { recursive: true });
    writeFileSync(join(part, 'metrics.jsonl'), readFileSync(join(full, 'metrics.jsonl'), 'utf8').split('\n').slice(0, 2).join('\n') + '\n');
    const resumed = (await ranks(worker, job({ task: 'grpo', out: part, batchSize: 4, steps: 4, saveSteps: 2, resume: true }), 2)).map(
      result,
    );
    expect(resumed[0]!.checksum).toBe(resumed[1]!.checksum);
    expect(await maxDiff(full, part)).toBe(0);
    const wrong = await single(
      worker,
      job({ task: 'grpo', out: join(tmp, 'resume-one'), batchSize: 4, steps: 4, resume: join(full, 'checkpoint-2') }),
    );
    expect(wrong.code).not.toBe(0);
    expect(wrong.err).toMatch(
      /checkpoint-2: this checkpoint was written by a run of 2 process.es.; an exact resume needs the same world size, and this run has 1/,
    );
  });

  it('a rank that dies makes the other fail within seconds, naming it', async () => {
    const [r0, r1] = await ranks(
      worker,
      job({ task: 'sft', out: join(tmp, 'dies'), batchSize: 2, steps: 6, dieAtStep: 3, failRank: 1 }),
      2,
      { TORCH_RLHF_DDP_TIMEOUT: '60' },
    );
    expect(r1!.code).toBe(17);
    expect(r0!.code).not.toBe(0);
    expect(r0!.err).toMatch(/distributed \(rank 0 of 2\): allReduce failed: rank 1 has stopped \(no heartbeat for 1\.5 s\)/);
    expect(r0!.ms).toBeLessThan(30_000); // well within the 60 s timeout: the closed connection is noticed at once
    expect(existsSync(join(tmp, 'dies', 'model.safetensors'))).toBe(false); // nothing half-written
  });

  it('a frozen rank makes the other fail after the timeout the user set, naming it', { timeout: 90_000 }, async () => {
    const r0 = await frozenRank(1, 4, join(tmp, 'stuck'));
    expect(r0.err).toMatch(/rank 0 of 2\): allReduce failed after the timeout of 4 s: rank 1 has stopped/);
    expect(r0.ms).toBeLessThan(30_000);
  });

  it('a frozen rank 0 (the TCPStore host) makes rank 1 fail after the timeout, naming it', { timeout: 90_000 }, async () => {
    const r1 = await frozenRank(0, 3, join(tmp, 'stuck0'));
    expect(r1.err).toMatch(/rank 1 of 2\): \w+ failed after the timeout of 3 s: rank 0 is frozen or unreachable: /);
    expect(r1.err).toMatch(/the TCPStore it hosts at 127\.0\.0\.1:\d+ answered nothing within 4\.5 s/);
    expect(r1.ms).toBeLessThan(30_000);
  });
});

describe('launchers', () => {
  const data = () => {
    const file = join(tmp, 'sft.jsonl');
    const words = ['cat', 'dog', 'owl', 'elk', 'ant', 'bee', 'cow', 'pig', 'rat', 'fox', 'hen', 'yak', 'emu', 'eel', 'gnu', 'ram'];
    writeFileSync(
      file,
      words.map((w, i) => JSON.stringify({ prompt: `Say ${w}:`, completion: ` ${words[(i + 5) % 16]}` })).join('\n') + '\n',
    );
    return file;
  };
  const sftArgs = (out: string) => [
    'sft',
    '--model',
    'tiny',
    '--data',
    data(),
    '--out',
    out,
    '--max-steps',
    '3',
    '--batch-size',
    '2',
    '--progress-bar',
    'false',
    '--eval-fraction',
    '0',
  ];
  const trained = (out: string) => {
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).step)).toEqual([3]); // written once, by rank 0
  };

  it('rlhf launch --nproc-per-node 2 -- sft … trains', async () => {
    const out = join(tmp, 'launch-sft');
    const r = await run(
      process.execPath,
      [cli, 'launch', '--nproc-per-node', '2', '--master-port', String(await freePort()), '--', ...sftArgs(out)],
      noLaunchEnv,
    );
    expect(r.code, r.err).toBe(0);
    trained(out);
  });

  it('the same command under torchrun --no-python trains (its agent hosts the store)', async () => {
    if (!existsSync(torchrun)) throw new Error(`${torchrun} is missing: bash scripts/setup.sh installs PyTorch's wheel with torchrun`);
    const out = join(tmp, 'torchrun-sft');
    const r = await run(
      torchrun,
      ['--no-python', '--nproc-per-node', '2', '--master-port', String(await freePort()), process.execPath, cli, ...sftArgs(out)],
      noLaunchEnv,
    );
    expect(r.code, r.err).toBe(0);
    trained(out);
  });

  it('rlhf launch fails at once, naming the port, when --master-port is in use', { timeout: 90_000 }, async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, () => r()));
    const port = (busy.address() as AddressInfo).port;
    try {
      const out = join(tmp, 'busy-port');
      const r = await run(
        process.execPath,
        [cli, 'launch', '--nproc-per-node', '2', '--master-port', String(port), '--', ...sftArgs(out)],
        noLaunchEnv,
        60_000,
      );
      expect(r.code, r.err).toBe(1);
      expect(r.err).toMatch(new RegExp(`rlhf launch: --master-port ${port} is already in use on this machine`));
      expect(r.ms).toBeLessThan(15_000); // not the 30 s grace period of a rank talking to whatever holds the port
    } finally {
      busy.close();
    }
  });

  it('after a failure rlhf launch stops a frozen rank (SIGTERM, then SIGKILL) and exits', { timeout: 90_000 }, async () => {
    const pidFile = join(tmp, 'frozen-rank.pid');
    const o = {
      nprocPerNode: 2,
      nnodes: 1,
      nodeRank: 0,
      masterAddr: '127.0.0.1',
      masterPort: await freePort(),
      ddpTimeout: 3,
      gracePeriod: 1,
    };
    // Rank 1 stops itself (SIGSTOP) at its 2nd step: rank 0 fails after 3 s, and a SIGTERM alone would never end rank 1.
    const args = job({ task: 'sft', out: join(tmp, 'launch-frozen'), batchSize: 2, steps: 6, stopAtStep: 2, failRank: 1, pidFile });
    try {
      const r = await script(
        { launch: 'distributed/launch.js' },
        `process.exitCode = await launch(${JSON.stringify(o)}, ${JSON.stringify(args)}, ${JSON.stringify(worker)});`,
        60_000,
      );
      expect(r.code, `killed by the test's hard timeout after ${r.ms} ms:\n${r.err}`).not.toBeNull();
      expect(r.err).toMatch(/rlhf launch: rank 0 failed \(exit code 1\); the other ranks get 1 s to stop/);
      expect(r.code).toBe(1);
      expect(r.ms).toBeLessThan(45_000);
    } finally {
      killFrozen(pidFile);
    }
  });

  it('rlhf launch names the rank that failed and exits non-zero', async () => {
    const r = await run(
      process.execPath,
      [
        cli,
        'launch',
        '--nproc-per-node',
        '2',
        '--master-port',
        String(await freePort()),
        '--',
        'sft',
        '--model',
        'tiny',
        '--data',
        join(tmp, 'missing.jsonl'),
        '--out',
        join(tmp, 'x'),
      ],
      noLaunchEnv,
    );
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/rlhf launch: rank [01] failed \(exit code 1\)/);
    const bad = await run(process.execPath, [cli, 'launch', '--nproc-per-node', '0', '--', 'sft'], noLaunchEnv);
    expect(bad.err).toMatch(/--nproc-per-node must be an integer ≥ 1, got 0/);
  });
});
