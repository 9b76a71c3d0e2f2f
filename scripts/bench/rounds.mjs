// Shared by the benchmark scripts: one measurement in a fresh child process per side
// (torch-rlhf: scripts/bench/node_side.mjs; PyTorch: the given Python script, on the Python
// whose wheel holds the addon's libtorch), the two sides alternated over rounds.
import { spawnSync } from 'node:child_process';
import { median, referencePython, threadEnv } from './report.mjs';

/**
 * `child(side, task)` runs one child; `both(label, task)` runs `rounds` rounds of both sides in
 * ABBA order, so that a drift in the machine's speed hits both alike. The ratio is the median of
 * the rounds' ratios (each of two children run back to back), which a slow drift does not bias;
 * its range over the rounds shows the noise. `pyScript` is the Python side's script, or a
 * function of the task that picks it.
 */
export function benchRunner({ root, threads, rounds, pyScript }) {
  const env = { ...process.env, ...threadEnv(threads) };

  function child(side, task) {
    const input = JSON.stringify({ ...task, threads });
    const [cmd, script] =
      side === 'js'
        ? [process.execPath, 'scripts/bench/node_side.mjs']
        : [referencePython(), typeof pyScript === 'function' ? pyScript(task) : pyScript];
    const run = () => spawnSync(cmd, [`${root}/${script}`], { input, encoding: 'utf8', env, cwd: root, maxBuffer: 64 << 20 });
    let r = run();
    if (r.status !== 0) {
      // Once more after a pause: a concurrent `tsc` rebuild of dist/ can break one import.
      process.stderr.write(`  ${side} side of ${task.task} failed, retrying: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}\n`);
      spawnSync('sleep', ['5']);
      r = run();
    }
    if (r.status !== 0) throw new Error(`${side} side of ${task.task} failed (${r.status ?? r.signal}): ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    if (out.threads !== threads) throw new Error(`${side} side ran ${out.threads} thread(s), expected ${threads}`);
    return out;
  }

  function both(label, task) {
    const acc = {
      js: { times: [], rolloutTimes: [], matmulTimes: [], rss: 0 },
      py: { times: [], rolloutTimes: [], matmulTimes: [], rss: 0 },
    };
    const ratios = [];
    const last = {}; // each side's last child's whole output (what it reports beside its times)
    const efficiency = { js: [], py: [] }; // per child: its step's FLOP rate over its own matmul's
    for (let round = 0; round < rounds; round++) {
      const here = {};
      for (const side of round % 2 ? ['py', 'js'] : ['js', 'py']) {
        const t0 = performance.now();
        const o = child(side, task);
        last[side] = o;
        here[side] = median(o.times);
        acc[side].times.push(...o.times);
        acc[side].rolloutTimes.push(...(o.rolloutTimes ?? []));
        if (o.matmulTimes) efficiency[side].push(median(o.matmulTimes) / here[side]);
        acc[side].rss = Math.max(acc[side].rss, o.maxRssKiB);
        process.stderr.write(
          `  ${label.padEnd(40)} ${side === 'js' ? 'torch-rlhf' : 'PyTorch   '} ${here[side].toFixed(4)} s  (child ` +
            `${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
        );
      }
      ratios.push(here.js / here.py);
    }
    const m = (side, k = 'times') => (acc[side][k].length ? median(acc[side][k]) : NaN);
    return {
      js: m('js'),
      py: m('py'),
      jsRollout: m('js', 'rolloutTimes'),
      pyRollout: m('py', 'rolloutTimes'),
      jsRss: acc.js.rss,
      pyRss: acc.py.rss,
      ratio: median(ratios),
      ratioRange: [Math.min(...ratios), Math.max(...ratios)],
      efficiency: { js: efficiency.js.length ? median(efficiency.js) : NaN, py: efficiency.py.length ? median(efficiency.py) : NaN },
      last,
    };
  }

  return { child, both };
}
