import { Link, useLocation } from 'react-router'

export function NotFound() {
  const { pathname } = useLocation()
  return (
    <div className="mx-auto w-full max-w-5xl px-5 py-20 sm:px-8">
      <p className="font-mono text-sm text-accent-300">404</p>
      <h1 className="mt-2 text-3xl font-bold tracking-tight text-white">No such page</h1>
      <p className="mt-3 text-slate-400">
        Nothing lives at <code className="rounded bg-white/5 px-1.5 py-0.5 font-mono text-slate-300">{pathname}</code>.
      </p>
      <Link to="/" className="mt-6 inline-block text-sm font-medium text-accent-300 hover:text-accent-200">
        ← Back to the start page
      </Link>
    </div>
  )
}
