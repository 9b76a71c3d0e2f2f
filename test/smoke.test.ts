import { describe, it, expect } from 'vitest';
import { torch } from '../src/index.js';
import { expectClose } from './helpers.js';

describe('smoke', () => {
  it('adds', () => {
    expectClose(torch.tensor([1, 2]).add(torch.tensor([3, 4])), [4, 6]);
    expect(torch.tensor([1, 2]).dtype).toBe('int64');
  });
});
