// A leaky integrate-and-fire neuron, integrated with forward Euler. It draws the membrane trace
// behind the page title: decoration, but a real model, checked against its closed form.

export interface LifParams {
  tauMs: number
  restMv: number
  thresholdMv: number
  resetMv: number
  /** Height of the drawn spike. */
  peakMv: number
  refractoryMs: number
}

export const LIF_DEFAULTS: LifParams = {
  tauMs: 10,
  restMv: -65,
  thresholdMv: -50,
  resetMv: -70,
  peakMv: 20,
  refractoryMs: 2,
}

export interface TracePoint {
  tMs: number
  vMv: number
}

/**
 * Membrane potential over `durationMs` for a drive `driveMv(t)` (input current times membrane
 * resistance). A spike is drawn as a jump to the peak and back to reset at the same instant.
 */
export function lifTrace(
  durationMs: number,
  dtMs: number,
  driveMv: (tMs: number) => number,
  params: LifParams = LIF_DEFAULTS,
): { points: TracePoint[]; spikesMs: number[] } {
  const { tauMs, restMv, thresholdMv, resetMv, peakMv, refractoryMs } = params
  const points: TracePoint[] = [{ tMs: 0, vMv: restMv }]
  const spikesMs: number[] = []
  let v = restMv
  let refractoryUntil = -Infinity
  const steps = Math.round(durationMs / dtMs)
  for (let i = 1; i <= steps; i += 1) {
    const t = i * dtMs
    if (t >= refractoryUntil) v += (dtMs / tauMs) * (restMv - v + driveMv(t))
    if (v >= thresholdMv) {
      points.push({ tMs: t, vMv: peakMv }, { tMs: t, vMv: resetMv })
      spikesMs.push(t)
      v = resetMv
      refractoryUntil = t + refractoryMs
    } else {
      points.push({ tMs: t, vMv: v })
    }
  }
  return { points, spikesMs }
}

/** The inter-spike interval for a constant drive, in closed form (Infinity if it never fires). */
export function lifPeriodMs(driveMv: number, params: LifParams = LIF_DEFAULTS): number {
  const { tauMs, restMv, thresholdMv, resetMv, refractoryMs } = params
  const above = driveMv - (thresholdMv - restMv)
  if (above <= 0) return Infinity
  return refractoryMs + tauMs * Math.log((driveMv - (resetMv - restMv)) / above)
}

/** An SVG path of the trace scaled into a `width` x `height` box, potentials in [vMin, vMax]. */
export function tracePath(points: TracePoint[], width: number, height: number, vMin: number, vMax: number): string {
  const last = points[points.length - 1]
  if (last === undefined || last.tMs <= 0) return ''
  const x = (t: number) => ((t / last.tMs) * width).toFixed(1)
  const y = (v: number) => (((vMax - v) / (vMax - vMin)) * height).toFixed(1)
  return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.tMs)} ${y(p.vMv)}`).join(' ')
}
