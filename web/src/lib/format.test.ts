import { describe, expect, it } from 'vitest'

import { formatLatency, MISSING } from './format.ts'

describe('formatLatency', () => {
  it.each<[number | null | undefined, string]>([
    [null, MISSING],
    [undefined, MISSING],
    [Number.NaN, MISSING],
    [Number.POSITIVE_INFINITY, MISSING],
    [-1, MISSING],
    [0, '0.00 ms'],
    [0.001, '< 0.01 ms'],
    [0.005, '0.01 ms'],
    [0.42, '0.42 ms'],
    [1.23, '1.23 ms'],
    [1.234, '1.23 ms'],
    [9.99, '9.99 ms'],
    [9.996, '10.0 ms'],
    [12.34, '12.3 ms'],
    [99.94, '99.9 ms'],
    [99.96, '100 ms'],
    [123.4, '123 ms'],
    [999.4, '999 ms'],
    [999.5, '1.00 s'],
    [1500, '1.50 s'],
    [12_345, '12.3 s'],
    [123_456, '123 s'],
    [2_000_000, '2000 s'],
  ])('formatLatency(%s) is %j', (ms, expected) => {
    expect(formatLatency(ms)).toBe(expected)
  })
})
