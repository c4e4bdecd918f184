import type { Tone } from './status.ts'

const TONE_CLASSES: Record<Tone, string> = {
  pending: 'bg-slate-500',
  up: 'bg-emerald-400 shadow-[0_0_10px] shadow-emerald-400/60',
  degraded: 'bg-amber-400 shadow-[0_0_10px] shadow-amber-400/60',
  down: 'bg-rose-500 shadow-[0_0_10px] shadow-rose-500/60',
}

/** A coloured dot; decorative, so the state must also be written next to it. */
export function StatusDot({ tone, pulse = false }: { tone: Tone; pulse?: boolean }) {
  return (
    <span aria-hidden="true" className="relative inline-flex size-2.5 shrink-0">
      {pulse && (
        <span className={`absolute inline-flex size-full rounded-full opacity-60 motion-safe:animate-ping ${TONE_CLASSES[tone]}`} />
      )}
      <span className={`relative inline-flex size-2.5 rounded-full ${TONE_CLASSES[tone]}`} />
    </span>
  )
}
