// A progress bar with ETA and live metrics (cli-progress), quiet when not on a terminal.
import cliProgress from 'cli-progress';

export interface Progress {
  update(step: number, metrics: Record<string, number>): void;
  stop(): void;
}

const fmt = (v: number): string => (Math.abs(v) >= 1000 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(4));

export function createProgress(label: string, total: number, enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} |{bar}| {value}/{total} steps | ETA {eta_formatted} | {metrics}`, hideCursor: true, stream: process.stderr, etaBuffer: 20 },
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
