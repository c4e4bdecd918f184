// Small formatting helpers shared by the UI. Pure; tested in format.test.ts.

/** Placeholder shown where a number is missing. */
export const MISSING = '—'

/** Rounds to three significant figures' worth of decimals for values in [0, 1000). */
function threeFigures(value: number): string {
  const decimals = value < 9.995 ? 2 : value < 99.95 ? 1 : 0
  return value.toFixed(decimals)
}

/**
 * A round-trip time in milliseconds as text: "0.42 ms", "12.3 ms", "123 ms", "1.50 s".
 * Null, negative or non-finite values (a service that is down) give the placeholder.
 */
export function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return MISSING
  if (ms > 0 && ms < 0.005) return '< 0.01 ms'
  if (ms < 999.5) return `${threeFigures(ms)} ms`
  const seconds = ms / 1000
  if (seconds < 999.5) return `${threeFigures(seconds)} s`
  return `${Math.round(seconds)} s`
}
