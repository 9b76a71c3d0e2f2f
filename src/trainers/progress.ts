// A progress bar with ETA and live metrics (cli-progress) on a terminal, and plain periodic
// progress lines when stderr is a file or a pipe (CI logs, nohup), so a run is never silent.
import cliProgress from 'cli-progress';

export interface Progress {
  update(step: number, metrics: Record<string, number>): void;
  stop(): void;
}

const fmt = (v: number): string => (Math.abs(v) >= 1000 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(4));

/**
 * Plain lines for logs and CI (stderr is not a terminal): `sft step 30/100 (30%) loss 1.2345 …
 * 12 s elapsed, ETA 28 s`, at every tenth of the run, at most every 30 s otherwise, and at the end.
 */
export function plainProgress(
  label: string,
  total: number,
  write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  now: () => number = Date.now,
): Progress {
  const start = now();
  let startStep: number | null = null;
  let lastLine = start;
  let lastTenth = -1;
  return {
    update(step, metrics) {
      const tenth = Math.floor((10 * step) / Math.max(total, 1));
      if (startStep === null) {
        // The first update is the starting point (0, or the step a resumed run continues from).
        startStep = step;
        lastTenth = tenth;
        return;
      }
      const t = now();
      if (tenth === lastTenth && t - lastLine < 30_000 && step < total) return;
      lastTenth = tenth;
      lastLine = t;
      const elapsed = (t - start) / 1000;
      const eta = step > startStep ? (elapsed / (step - startStep)) * (total - step) : NaN;
      const text = Object.entries(metrics)
        .slice(0, 4)
        .map(([k, v]) => ` ${k} ${fmt(v)}`)
        .join('');
      write(
        `${label} step ${step}/${total} (${Math.round((100 * step) / Math.max(total, 1))}%)${text}, ${elapsed.toFixed(0)} s ` +
          `elapsed${Number.isFinite(eta) ? `, ETA ${eta.toFixed(0)} s` : ''}`,
      );
    },
    stop() {},
  };
}

export function createProgress(label: string, total: number, enabled: boolean): Progress {
  if (!enabled) return { update() {}, stop() {} };
  if (!process.stderr.isTTY) return plainProgress(label, total);
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} |{bar}| {value}/{total} steps | ETA {eta_formatted} | {metrics}`,
      hideCursor: true,
      stream: process.stderr,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { metrics: '' });
  return {
    update(step, metrics) {
      const text = Object.entries(metrics)
        .slice(0, 4)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(' ');
      bar.update(step, { metrics: text });
    },
    stop() {
      bar.stop();
    },
  };
}
