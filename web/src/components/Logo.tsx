/** The SPIKE-X mark: an action potential in a rounded square. */
export function Logo({ className = '' }: { className?: string }) {
  return (
    <svg aria-hidden="true" viewBox="0 0 32 32" className={className} fill="none">
      <rect x="1" y="1" width="30" height="30" rx="8" className="fill-accent-400/10 stroke-accent-400/40" />
      <path
        d="M4 20h7l2-3 2.2-12 2.6 20 1.7-5H28"
        className="stroke-accent-300"
        strokeWidth="2"
        strokeLinecap="round"
        strokeLinejoin="round"
      />
    </svg>
  )
}
