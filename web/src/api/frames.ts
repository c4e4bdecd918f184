// Run frames (`/ws/runs/{run_id}/frames`): the decoder of the binary frame format
// (docs/frames.md; the encoder is simcore/frames.py). The arrays are typed-array views on the
// received ArrayBuffer, never copies, so they go to WebGL buffers as they are. float16 arrays
// come as Uint16Array (their raw bits), which WebGL2 takes as HALF_FLOAT.

export const FRAME_MAGIC = 'SXFR'
export const FRAME_VERSION = 1
const PREFIX_SIZE = 16
const ALIGN = 8

export type FrameDType = 'uint8' | 'uint16' | 'uint32' | 'int32' | 'float16' | 'float32' | 'float64'
export type FrameArrayView = Uint8Array | Uint16Array | Uint32Array | Int32Array | Float32Array | Float64Array

const VIEWS: Record<FrameDType, { bytes: number; make: (b: ArrayBuffer, at: number, n: number) => FrameArrayView }> = {
  uint8: { bytes: 1, make: (b, at, n) => new Uint8Array(b, at, n) },
  uint16: { bytes: 2, make: (b, at, n) => new Uint16Array(b, at, n) },
  uint32: { bytes: 4, make: (b, at, n) => new Uint32Array(b, at, n) },
  int32: { bytes: 4, make: (b, at, n) => new Int32Array(b, at, n) },
  float16: { bytes: 2, make: (b, at, n) => new Uint16Array(b, at, n) },
  float32: { bytes: 4, make: (b, at, n) => new Float32Array(b, at, n) },
  float64: { bytes: 8, make: (b, at, n) => new Float64Array(b, at, n) },
}

export interface FrameArrayInfo {
  name: string
  dtype: FrameDType
  shape: number[]
  /** Bytes from the start of the body. */
  offset: number
  /** For `raster/...`: [steps, neurons] per bin. */
  bins?: [number, number]
}

export interface FrameChange {
  kind: string
  target: string
  value: number | number[]
  step: number
}

export interface FrameHeader {
  version: number
  run: string
  index: number
  kinds: string[]
  /** Steps [start, end). */
  start: number
  end: number
  /** Seconds per step (0 for training frames). */
  dt: number
  applies_from?: number
  changes: FrameChange[]
  sizes: Record<string, number>
  produced_at: number
  /** Frames this viewer missed just before this one. */
  skipped: number
  arrays: FrameArrayInfo[]
}

export interface FrameArray {
  info: FrameArrayInfo
  data: FrameArrayView
}

export interface Frame {
  header: FrameHeader
  arrays: Map<string, FrameArray>
}

export class FrameError extends Error {
  override name = 'FrameError'
}

const DTYPE_NAMES = new Set(Object.keys(VIEWS))

function littleEndianHost(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
}

function parseHeader(text: string): FrameHeader {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw new FrameError('bad frame header: not JSON')
  }
  if (typeof raw !== 'object' || raw === null) throw new FrameError('bad frame header: not an object')
  const h = raw as Record<string, unknown>
  for (const key of ['index', 'start', 'end', 'dt'] as const) {
    if (typeof h[key] !== 'number') throw new FrameError(`bad frame header: ${key} is not a number`)
  }
  if (typeof h.run !== 'string') throw new FrameError('bad frame header: run is not a string')
  const arrays = Array.isArray(h.arrays) ? (h.arrays as FrameArrayInfo[]) : []
  for (const a of arrays) {
    if (typeof a.name !== 'string' || !DTYPE_NAMES.has(a.dtype) || !Array.isArray(a.shape) || typeof a.offset !== 'number') {
      throw new FrameError(`bad frame header: array ${String(a.name)} is malformed`)
    }
  }
  return {
    version: typeof h.version === 'number' ? h.version : FRAME_VERSION,
    run: h.run,
    index: h.index as number,
    kinds: Array.isArray(h.kinds) ? (h.kinds as string[]) : [],
    start: h.start as number,
    end: h.end as number,
    dt: h.dt as number,
    applies_from: typeof h.applies_from === 'number' ? h.applies_from : undefined,
    changes: Array.isArray(h.changes) ? (h.changes as unknown[][]).map(toChange) : [],
    sizes: typeof h.sizes === 'object' && h.sizes !== null ? (h.sizes as Record<string, number>) : {},
    produced_at: typeof h.produced_at === 'number' ? h.produced_at : 0,
    skipped: typeof h.skipped === 'number' ? h.skipped : 0,
    arrays,
  }
}

function toChange(c: unknown): FrameChange {
  const r = c as Record<string, unknown>
  return {
    kind: String(r.kind),
    target: String(r.target),
    value: r.value as number | number[],
    step: Number(r.step),
  }
}

/** Decodes one binary websocket message; throws FrameError on truncated, foreign or newer input. */
export function decodeFrame(buffer: ArrayBuffer): Frame {
  if (!littleEndianHost()) throw new FrameError('frames are little-endian; this host is not')
  if (buffer.byteLength < PREFIX_SIZE) {
    throw new FrameError(`truncated frame: ${buffer.byteLength} bytes, the prefix alone has ${PREFIX_SIZE}`)
  }
  const prefix = new DataView(buffer, 0, PREFIX_SIZE)
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4))
  if (magic !== FRAME_MAGIC) throw new FrameError(`not a SPIKE-X frame (magic ${JSON.stringify(magic)})`)
  const version = prefix.getUint16(4, true)
  if (version > FRAME_VERSION) {
    throw new FrameError(`frame format version ${version} is newer than this reader's (${FRAME_VERSION}); reload the page`)
  }
  const headerLength = prefix.getUint32(8, true)
  const bodyLength = prefix.getUint32(12, true)
  const bodyStart = Math.ceil((PREFIX_SIZE + headerLength) / ALIGN) * ALIGN
  if (buffer.byteLength < bodyStart + bodyLength) {
    throw new FrameError(`truncated frame: ${buffer.byteLength} bytes, its prefix announces ${bodyStart + bodyLength}`)
  }
  const header = parseHeader(new TextDecoder().decode(new Uint8Array(buffer, PREFIX_SIZE, headerLength)))
  const arrays = new Map<string, FrameArray>()
  for (const info of header.arrays) {
    const view = VIEWS[info.dtype]
    const count = info.shape.reduce((a, b) => a * b, 1)
    if (info.offset % ALIGN !== 0 || info.offset + count * view.bytes > bodyLength) {
      throw new FrameError(`array ${info.name} lies outside the frame's body`)
    }
    arrays.set(info.name, { info, data: view.make(buffer, bodyStart + info.offset, count) })
  }
  return { header, arrays }
}

/** Converts raw float16 bits (as in a float16 array) to a number, for the rare CPU-side read. */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1
  const exponent = (bits >> 10) & 0x1f
  const fraction = bits & 0x3ff
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024)
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024)
}
