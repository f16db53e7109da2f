import { describe, expect, it } from 'vitest';
import { isAttackActive, parseAttackConfig, selectMalicious } from '../../src/attacks/config.js';

const ids = Array.from({ length: 50 }, (_, i) => `client-${String(i).padStart(2, '0')}`);

describe('attack config', () => {
  it('fills defaults and resolves the attack spec', () => {
    expect(parseAttackConfig({ malicious: { fraction: 0.2 }, attack: { name: 'ipm' } })).toEqual({
      malicious: { fraction: 0.2 },
      startRound: 0,
      omniscient: false,
      attack: { name: 'ipm', epsilon: 0.1 },
    });
  });

  it('explains what is wrong', () => {
    expect(() => parseAttackConfig({ malicious: { fraction: 0.2, count: 3 }, attack: { name: 'ipm' } })).toThrowError(/malicious: give exactly one of fraction, count or ids/);
    expect(() => parseAttackConfig({ malicious: { count: 3 }, startRound: 5, endRound: 2, attack: { name: 'ipm' } })).toThrowError(/endRound: endRound must be ≥ startRound/);
    expect(() => parseAttackConfig({ malicious: { count: 3 }, attack: { name: 'lie' } })).toThrowError(/attack\.attack: unknown attack "lie"/);
    expect(() => parseAttackConfig({ malicious: { count: 3 }, attack: { name: 'ipm' }, omnicient: true })).toThrowError(/Unrecognized key: "omnicient"/);
  });

  it('is active from startRound to endRound inclusive', () => {
    const c = { startRound: 3, endRound: 5 };
    expect([2, 3, 5, 6].map((r) => isAttackActive(c, r))).toEqual([false, true, true, false]);
    expect(isAttackActive({ startRound: 3 }, 1000)).toBe(true);
  });
});

describe('selectMalicious', () => {
  it('picks ⌊fraction·n⌋ participants, deterministically per seed and independent of id order', () => {
    const a = selectMalicious(ids, { fraction: 0.2 }, 42);
    expect(a).toHaveLength(10);
    expect(new Set(a).size).toBe(10);
    expect(selectMalicious([...ids].reverse(), { fraction: 0.2 }, 42)).toEqual(a);
    expect(selectMalicious(ids, { fraction: 0.2 }, 43)).not.toEqual(a);
    expect(a.every((id) => ids.includes(id))).toBe(true);
  });

  it('does not lose one to float rounding (0.7 × 10 = 6.999…)', () => {
    expect(selectMalicious(ids.slice(0, 10), { fraction: 0.7 }, 1)).toHaveLength(7);
    expect(selectMalicious(ids, { count: 0 }, 1)).toEqual([]);
  });

  it('takes explicit ids, checking they exist', () => {
    expect(selectMalicious(ids, { ids: ['client-07', 'client-03'] }, 1)).toEqual(['client-03', 'client-07']);
    expect(() => selectMalicious(ids, { ids: ['client-99'] }, 1)).toThrowError(/not among the participants: client-99/);
    expect(() => selectMalicious(['a', 'a'], { count: 1 }, 1)).toThrowError(/"a" appears twice/);
    expect(() => selectMalicious(['a'], { count: 2 }, 1)).toThrowError(/cannot make 2 of 1/);
  });
});
