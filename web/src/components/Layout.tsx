import { Link, Outlet } from 'react-router'

import { Logo } from './Logo.tsx'

export const API_DOCS_URL = '/api/docs'

export function Layout() {
  return (
    <div className="flex min-h-dvh flex-col">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:top-3 focus:left-3 focus:rounded focus:bg-slate-900 focus:px-3 focus:py-2"
      >
        Skip to content
      </a>
      <header className="border-b border-white/5">
        <nav
          aria-label="Main"
          className="mx-auto flex w-full max-w-5xl items-center justify-between gap-4 px-5 py-4 sm:px-8"
        >
          <Link to="/" className="flex items-center gap-2.5 font-semibold tracking-wide text-slate-100">
            <Logo className="size-7" />
            SPIKE-X
          </Link>
          {/* Served by the Python server, not by this app: a plain link. */}
          <a href={API_DOCS_URL} className="text-sm text-slate-400 transition hover:text-accent-300">
            API docs
          </a>
        </nav>
      </header>
      <main id="main" className="flex-1">
        <Outlet />
      </main>
      <footer className="border-t border-white/5">
        <div className="mx-auto w-full max-w-5xl px-5 py-5 text-xs text-slate-500 sm:px-8">
          SPIKE-X · from the perceptron to spiking networks
        </div>
      </footer>
    </div>
  )
}
