// Shared test helpers.
import { expect } from 'vitest';
import { torch, type Tensor } from '../src/index.js';

/** Elementwise closeness of a tensor to nested arrays (or another tensor). */
export function expectClose(actual: Tensor, expected: unknown, atol = 1e-5, rtol = 1e-5): void {
  const exp = torch.tensor(expected instanceof torch.Tensor ? (expected as Tensor).tolist() : (expected as number[]), { dtype: 'float64' });
  const act = actual.to('float64');
  try {
    expect(act.shape).toEqual(exp.shape);
    const ok = act.allclose(exp, rtol, atol);
    if (!ok) expect(act.tolist()).toEqual(exp.tolist());
  } finally {
    exp.dispose();
    act.dispose();
  }
}
