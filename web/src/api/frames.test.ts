import { describe, expect, it } from 'vitest'

import { EXPECTED, FRAME_BASE64 } from './frames.fixture.ts'
import { decodeFrame, FrameError, halfToNumber } from './frames.ts'

// The fixture is a frame made by the Python encoder (tests/frames_fixture.py).
function fixture(): ArrayBuffer {
  const bytes = Uint8Array.from(atob(FRAME_BASE64), (c) => c.charCodeAt(0))
  return bytes.buffer
}

describe('decodeFrame', () => {
  it('reads the header the Python encoder wrote', () => {
    const { header } = decodeFrame(fixture())
    for (const [key, value] of Object.entries(EXPECTED.header)) {
      expect(header[key as keyof typeof header]).toEqual(value)
    }
    expect(header.changes).toEqual([{ kind: 'rate', target: 'drive', value: 12, step: 480 }])
    expect(header.applies_from).toBe(480)
    expect(header.arrays.find((a) => a.name === 'raster/exc')?.bins).toEqual([80, 1067])
  })

  it('gives every array as a view on the received buffer, with its values', () => {
    const buffer = fixture()
    const { arrays } = decodeFrame(buffer)
    expect([...arrays.keys()].sort()).toEqual(Object.keys(EXPECTED.arrays).sort())
    for (const [name, expected] of Object.entries(EXPECTED.arrays)) {
      const array = arrays.get(name)
      expect(array?.info.dtype).toBe(expected.dtype)
      expect(array?.info.shape).toEqual(expected.shape)
      expect(array?.data.buffer).toBe(buffer)
      expect((array?.data.byteOffset ?? 1) % 8).toBe(0)
      expect(Array.from(array?.data ?? [])).toEqual(expected.values)
    }
  })

  it('decodes float16 bits', () => {
    const v = decodeFrame(fixture()).arrays.get('states/v/v')?.data
    expect(halfToNumber(v?.[0] ?? 0)).toBeCloseTo(-0.065, 3)
    expect(halfToNumber(v?.[4] ?? 1)).toBe(0)
  })

  it('refuses truncated, foreign and newer frames with a clear error', () => {
    const whole = new Uint8Array(fixture())
    expect(() => decodeFrame(whole.slice(0, 10).buffer)).toThrow(/truncated frame/)
    expect(() => decodeFrame(whole.slice(0, whole.length - 4).buffer)).toThrow(/truncated frame/)
    const foreign = whole.slice()
    foreign[0] = 0x47
    expect(() => decodeFrame(foreign.buffer)).toThrow(/not a SPIKE-X frame/)
    const newer = whole.slice()
    newer[4] = 2
    expect(() => decodeFrame(newer.buffer)).toThrow(FrameError)
    expect(() => decodeFrame(newer.buffer)).toThrow(/version 2 is newer/)
  })
})
