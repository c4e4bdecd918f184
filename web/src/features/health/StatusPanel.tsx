import { ServiceList } from './ServiceList.tsx'
import { StatusDot } from './StatusDot.tsx'
import { summarize, toServiceRows } from './status.ts'
import { useHealth } from './useHealth.ts'

const REFRESH_MS = 5000

const TITLE_CLASSES = {
  pending: 'text-slate-300',
  up: 'text-emerald-300',
  degraded: 'text-amber-300',
  down: 'text-rose-300',
} as const

export function StatusPanel() {
  const { result, checking, checkedAt, retry } = useHealth(REFRESH_MS)
  const summary = summarize(result)
  const health = result?.kind === 'ok' ? result.health : null

  return (
    <section
      aria-labelledby="status-heading"
      aria-busy={checking}
      className="rounded-2xl border border-white/10 bg-slate-900/60 p-5 shadow-2xl shadow-black/40 backdrop-blur sm:p-6"
    >
      <div className="flex items-center justify-between gap-4">
        <h2 id="status-heading" className="text-lg font-semibold text-slate-100">
          System status
        </h2>
        <button
          type="button"
          onClick={retry}
          className="inline-flex items-center gap-2 rounded-lg border border-white/10 bg-white/5 px-3 py-1.5 text-sm font-medium text-slate-200 transition hover:border-accent-400/50 hover:bg-accent-400/10 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-accent-400"
        >
          <svg
            aria-hidden="true"
            viewBox="0 0 16 16"
            className={`size-3.5 ${checking ? 'motion-safe:animate-spin' : ''}`}
            fill="none"
            stroke="currentColor"
            strokeWidth="1.6"
            strokeLinecap="round"
          >
            <path d="M13.5 8a5.5 5.5 0 1 1-1.6-3.9" />
            <path d="M13.5 2.5v2.5H11" />
          </svg>
          Retry
        </button>
      </div>

      {/* Only the summary is live, so screen readers hear state changes, not every latency tick. */}
      <div role="status" aria-live="polite" aria-atomic="true" className="mt-4 flex items-start gap-3">
        <span className="mt-2">
          <StatusDot tone={summary.tone} pulse={summary.tone === 'up'} />
        </span>
        <div>
          <p className={`font-semibold ${TITLE_CLASSES[summary.tone]}`}>{summary.title}</p>
          <p className="text-sm text-slate-400">{summary.detail}</p>
        </div>
      </div>

      {health !== null && (
        <div className="mt-5">
          <ServiceList rows={toServiceRows(health)} />
        </div>
      )}

      <footer className="mt-4 flex flex-wrap items-center justify-between gap-2 text-xs text-slate-500">
        <span>
          {health !== null ? `server ${health.version} · engine ${health.engine}` : 'server version unknown'}
        </span>
        <span>
          {checkedAt !== null ? (
            <>
              checked <time dateTime={checkedAt.toISOString()}>{checkedAt.toLocaleTimeString()}</time> · every{' '}
              {REFRESH_MS / 1000} s
            </>
          ) : (
            `refreshes every ${REFRESH_MS / 1000} s`
          )}
        </span>
      </footer>
    </section>
  )
}
