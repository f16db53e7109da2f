import { describe, expect, it } from 'vitest';
import { labelCounts } from '../../src/data/dataset.js';
import { loadMnist, loadMnistAll } from '../../src/data/mnist.js';

describe('built-in MNIST', () => {
  it('holds the 10,000 real digits of the mnist package', () => {
    const all = loadMnistAll();
    expect(all.size).toBe(10_000);
    expect(all.x.length).toBe(10_000 * 784);
    expect(Math.min(...all.x.subarray(0, 784 * 10))).toBeGreaterThanOrEqual(0);
    expect(Math.max(...all.x.subarray(0, 784 * 10))).toBeLessThanOrEqual(1);
  });

  it('splits deterministically and stratified into 8,000 train and 2,000 test digits', () => {
    const a = loadMnist();
    const b = loadMnist();
    expect(a.train.size).toBe(8000);
    expect(a.test.size).toBe(2000);
    expect(a.test.y).toEqual(b.test.y);
    expect(a.test.x.subarray(0, 784 * 5)).toEqual(b.test.x.subarray(0, 784 * 5));
    const all = labelCounts(loadMnistAll());
    labelCounts(a.test).forEach((n, c) => expect(Math.abs(n - all[c]! * 0.2)).toBeLessThanOrEqual(1));
  });
});
