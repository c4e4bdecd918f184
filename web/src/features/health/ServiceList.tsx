import { StatusDot } from './StatusDot.tsx'
import type { ServiceRow } from './status.ts'

export function ServiceList({ rows }: { rows: ServiceRow[] }) {
  if (rows.length === 0) {
    return <p className="text-sm text-slate-400">The server reports no services.</p>
  }
  return (
    <ul className="divide-y divide-white/5 rounded-xl border border-white/5 bg-white/[0.02]">
      {rows.map((row) => (
        <li key={row.key} className="flex items-start gap-3 px-4 py-3">
          <span className="mt-1.5">
            <StatusDot tone={row.up ? 'up' : 'down'} />
          </span>
          <div className="min-w-0 flex-1">
            <div className="flex flex-wrap items-baseline gap-x-2">
              <span className="font-medium text-slate-100">{row.label}</span>
              <span className={`text-xs font-medium uppercase tracking-wide ${row.up ? 'text-emerald-300' : 'text-rose-300'}`}>
                {row.state}
              </span>
              {row.embedded && (
                <span className="rounded bg-white/5 px-1.5 py-0.5 text-[0.65rem] uppercase tracking-wide text-slate-400">
                  embedded
                </span>
              )}
            </div>
            <p className="mt-0.5 font-mono text-xs text-slate-500 [overflow-wrap:anywhere]">
              <span className="text-slate-400">{row.setting}</span> {row.target}
            </p>
            {row.error !== null && <p className="mt-1 text-sm break-words text-rose-300/90">{row.error}</p>}
          </div>
          <span className="shrink-0 pt-0.5 font-mono text-sm tabular-nums text-slate-300">
            <span className="sr-only">latency </span>
            {row.latency}
          </span>
        </li>
      ))}
    </ul>
  )
}
