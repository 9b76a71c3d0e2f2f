// One forward per model, two implementations: the modules' (autograd, dropout, KV cache) and one
// native call for the whole trunk. Each model's public forward picks the native one when it gives
// the same result (grad mode off, no cache, no dropout in effect); here both are forced and
// compared on GPT-2 and a Llama-family model, with padding on the left and on the right.
import { describe, it, expect } from 'vitest';
import { fileURLToPath } from 'node:url';
import { torch, GPT, RewardModel, ActorCritic, type Tensor } from '../src/index.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const maxDiff = (a: Tensor, b: Tensor): number => torch.tidy(() => a.sub(b).abs().max().item());
/** The largest difference over real positions (a mask (B, T), outputs (B, T, …) or (B, T)). */
const maxDiffOnMask = (a: Tensor, b: Tensor, mask: Tensor): number =>
  torch.tidy(() => {
    const m = a.ndim === 3 ? mask.bool().unsqueeze(-1) : mask.bool();
    return a.sub(b).abs().maskedFill(m.logicalNot(), 0).max().item();
  });

// Left padding (generation's prompts), right padding (SFT and reward batches), and none.
const ids = (): Tensor =>
  torch.tensor(
    [
      [0, 0, 5, 6, 7, 8],
      [1, 2, 3, 4, 0, 0],
      [9, 8, 7, 6, 5, 4],
    ],
    { dtype: 'int64' },
  );
const mask = (): Tensor =>
  torch.tensor(
    [
      [0, 0, 1, 1, 1, 1],
      [1, 1, 1, 1, 0, 0],
      [1, 1, 1, 1, 1, 1],
    ],
    { dtype: 'int64' },
  );

describe.each(['gpt2-tiny', 'llama-tiny'])('%s: the native and the modules forward agree', (name) => {
  it('forward and hiddenStates, with padding left and right', async () => {
    const model = await GPT.load(fixture(name));
    model.eval();
    torch.tidy(() => {
      const [x, m] = [ids(), mask()];
      const modules = model.forward(x, { attentionMask: m, path: 'modules' });
      const native = model.forward(x, { attentionMask: m, path: 'native' });
      expect(maxDiffOnMask(native.logits, modules.logits, m)).toBeLessThan(1e-5);
      expect(maxDiffOnMask(native.hiddenStates, modules.hiddenStates, m)).toBeLessThan(1e-5);
      const hm = model.hiddenStates(x, { attentionMask: m, path: 'modules' });
      const hn = model.hiddenStates(x, { attentionMask: m, path: 'native' });
      expect(maxDiff(hm, modules.hiddenStates)).toBe(0);
      expect(maxDiff(hn, native.hiddenStates)).toBe(0);
      // The default picks the native path exactly when there is no autograd to keep.
      expect(model.nativeApplies()).toBe(false);
      expect(torch.noGrad(() => model.nativeApplies())).toBe(true);
      expect(torch.noGrad(() => model.nativeApplies({ useCache: true }))).toBe(false);
      expect(model.forward(x, { attentionMask: m }).logits.requiresGrad).toBe(true);
      expect(
        maxDiff(
          torch.noGrad(() => model.forward(x, { attentionMask: m }).logits),
          native.logits,
        ),
      ).toBe(0);
    });
    model.dispose();
  });

  it('RewardModel.rewards and ActorCritic.policyAndValues', async () => {
    const rm = await RewardModel.fromTrunk(fixture(name));
    const ac = await ActorCritic.fromTrunk(fixture(name));
    rm.eval();
    ac.eval();
    torch.tidy(() => {
      const [x, m] = [ids(), mask()];
      expect(maxDiff(rm.rewards(x, m, { path: 'native' }), rm.rewards(x, m, { path: 'modules' }))).toBeLessThan(1e-5);
      expect(
        maxDiff(
          torch.noGrad(() => rm.rewards(x, m)),
          rm.rewards(x, m, { path: 'native' }),
        ),
      ).toBe(0);
      const a = ac.policyAndValues(x, m, { path: 'modules' });
      const b = ac.policyAndValues(x, m, { path: 'native' });
      expect(maxDiffOnMask(b.logits, a.logits, m)).toBeLessThan(1e-5);
      expect(maxDiffOnMask(b.values, a.values, m)).toBeLessThan(1e-5);
    });
    rm.dispose();
    ac.dispose();
  });
});

describe('the default path', () => {
  it('keeps the modules forward while dropout is in effect (training mode), and the cache', () => {
    const model = GPT.create({ vocabSize: 16, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0.1 });
    expect(torch.noGrad(() => model.nativeApplies())).toBe(false);
    model.eval();
    expect(torch.noGrad(() => model.nativeApplies())).toBe(true);
    expect(() => torch.noGrad(() => model.forward(torch.tensor([[1, 2]]), { useCache: true, path: 'native' }))).toThrow(
      /native path takes no pastKeyValues/,
    );
    model.dispose();
  });
});
