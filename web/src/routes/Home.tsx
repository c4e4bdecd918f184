import { API_DOCS_URL } from '../components/Layout.tsx'
import { MembraneTrace } from '../components/MembraneTrace.tsx'
import { StatusPanel } from '../features/health/StatusPanel.tsx'

export function Home() {
  return (
    <div className="mx-auto grid w-full max-w-5xl grid-cols-1 gap-10 px-5 py-12 sm:px-8 sm:py-16 lg:grid-cols-[1fr_minmax(0,26rem)] lg:items-start lg:gap-12">
      <div className="relative">
        <MembraneTrace className="pointer-events-none absolute inset-x-0 -top-4 h-24 w-full text-accent-400/60" />
        <div className="relative pt-24">
          <p className="text-xs font-semibold tracking-[0.25em] text-accent-300 uppercase">Neural networks, together</p>
          <h1 className="mt-3 text-5xl font-bold tracking-tight text-white sm:text-6xl">SPIKE-X</h1>
          <p className="mt-4 max-w-xl text-lg text-slate-300">
            Build, simulate, train and watch neural networks together.
          </p>
          <p className="mt-3 max-w-xl text-sm leading-relaxed text-slate-400">
            From a perceptron to spiking networks: every model is a shared document, edited live by everyone in the
            room, simulated by a Rust core or trained with Torch, its activity streamed to everyone watching.
          </p>
          <div className="mt-8 flex flex-wrap gap-3">
            <a
              href={API_DOCS_URL}
              className="rounded-lg bg-accent-400 px-4 py-2 text-sm font-semibold text-slate-950 transition hover:bg-accent-300 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-accent-300"
            >
              Open the API docs
            </a>
          </div>
        </div>
      </div>
      <StatusPanel />
    </div>
  )
}
