// Learning-rate schedules with linear warmup, as Hugging Face's get_scheduler: the factor
// that multiplies the base learning rate at a given optimizer step.

export type LrSchedulerType = 'linear' | 'cosine' | 'constant' | 'constant_with_warmup';

export function lrFactor(type: LrSchedulerType, step: number, warmupSteps: number, totalSteps: number): number {
  if (type === 'constant') return 1;
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  if (type === 'constant_with_warmup') return 1;
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  if (type === 'linear') return Math.max(0, 1 - progress);
  if (type === 'cosine') return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress))));
  throw new Error(`unknown lrSchedulerType '${String(type)}' (expected linear, cosine, constant or constant_with_warmup)`);
}
