import { describe, expect, it } from 'vitest'

import { LIF_DEFAULTS, lifPeriodMs, lifTrace, tracePath } from './lif.ts'

describe('lifTrace', () => {
  it('stays at rest without drive', () => {
    const { points, spikesMs } = lifTrace(50, 0.1, () => 0)
    expect(spikesMs).toEqual([])
    expect(points.every((p) => p.vMv === LIF_DEFAULTS.restMv)).toBe(true)
  })

  it('relaxes towards rest + drive below threshold', () => {
    const { points, spikesMs } = lifTrace(100, 0.01, () => 10)
    expect(spikesMs).toEqual([])
    // After 10 time constants the exponential is within 1e-4 of its asymptote.
    expect(points[points.length - 1]?.vMv).toBeCloseTo(LIF_DEFAULTS.restMv + 10, 3)
  })

  it.each([16, 20, 30, 50])('fires at the closed-form rate for a constant drive of %d mV', (drive) => {
    const period = lifPeriodMs(drive)
    const { spikesMs } = lifTrace(500, 0.001, () => drive)
    const intervals = spikesMs.slice(1).map((t, i) => t - (spikesMs[i] ?? 0))
    expect(intervals.length).toBeGreaterThan(5)
    // Forward Euler with dt = 1 µs: the error is well under a percent of the period.
    for (const interval of intervals) expect(Math.abs(interval - period) / period).toBeLessThan(0.005)
  })

  it('never fires when the drive cannot reach threshold', () => {
    expect(lifPeriodMs(15)).toBe(Infinity)
    expect(lifTrace(200, 0.1, () => 15).spikesMs).toEqual([])
  })
})

describe('tracePath', () => {
  it.each([
    ['empty', [], ''],
    ['a single instant', [{ tMs: 0, vMv: 0 }], ''],
    [
      'a ramp',
      [
        { tMs: 0, vMv: -70 },
        { tMs: 5, vMv: -50 },
        { tMs: 10, vMv: 30 },
      ],
      'M0.0 100.0 L50.0 80.0 L100.0 0.0',
    ],
  ])('%s', (_label, points, expected) => {
    expect(tracePath(points, 100, 100, -70, 30)).toBe(expected)
  })
})
