// Smoothing of a chart's lines, as TensorBoard's slider does it: an exponential moving average
// with TensorBoard's debiasing (so the first points are not pulled towards 0), gaps kept as
// gaps. The page script embeds this very function (its source), so the report and the tests run
// the same code.

/** `points` smoothed with weight `w` in [0, 1): 0 returns them unchanged; nulls stay nulls and do not reset the average. */
export function smoothPoints(points: [number, number | null][], w: number): [number, number | null][] {
  if (!(w > 0)) return points;
  let avg = 0;
  let n = 0;
  return points.map(([x, y]) => {
    if (y === null || !Number.isFinite(y)) return [x, y];
    avg = avg * w + (1 - w) * y;
    n++;
    return [x, avg / (1 - w ** n)];
  });
}
