import { lifTrace, tracePath } from '../lib/lif.ts'

const WIDTH = 1200
const HEIGHT = 120
// A slowly swelling drive, so the neuron bursts, pauses and picks up again.
const drive = (tMs: number) => 14 + 7 * Math.sin((2 * Math.PI * tMs) / 300) + 3 * Math.sin((2 * Math.PI * tMs) / 47)
const PATH = tracePath(lifTrace(600, 0.05, drive).points, WIDTH, HEIGHT, -75, 25)

/** A leaky integrate-and-fire membrane trace drawn across the hero; decorative. */
export function MembraneTrace({ className = '' }: { className?: string }) {
  return (
    <svg
      aria-hidden="true"
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      preserveAspectRatio="none"
      className={className}
      fill="none"
    >
      <defs>
        <linearGradient id="trace-fade" x1="0" x2="1" y1="0" y2="0">
          <stop offset="0" stopColor="currentColor" stopOpacity="0" />
          <stop offset="0.25" stopColor="currentColor" stopOpacity="0.7" />
          <stop offset="0.75" stopColor="currentColor" stopOpacity="0.7" />
          <stop offset="1" stopColor="currentColor" stopOpacity="0" />
        </linearGradient>
      </defs>
      <path d={PATH} stroke="url(#trace-fade)" strokeWidth="1.5" vectorEffect="non-scaling-stroke" strokeLinejoin="round" />
    </svg>
  )
}
