import { useCallback, useEffect, useState } from 'react'

import { fetchHealth, type HealthResult } from '../../api/health.ts'

export interface HealthState {
  /** The latest answer; null until the first check finishes. */
  result: HealthResult | null
  checking: boolean
  checkedAt: Date | null
}

/**
 * Polls GET /api/health: one check at a time, the next one `intervalMs` after the last finished.
 * `retry` cancels any check in flight and checks again now.
 */
export function useHealth(intervalMs = 5000): HealthState & { retry: () => void } {
  const [state, setState] = useState<HealthState>({ result: null, checking: true, checkedAt: null })
  const [attempt, setAttempt] = useState(0)

  useEffect(() => {
    const controller = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined

    async function check(): Promise<void> {
      setState((previous) => ({ ...previous, checking: true }))
      let result: HealthResult
      try {
        result = await fetchHealth({ signal: controller.signal })
      } catch {
        return // aborted: a retry or unmount took over
      }
      setState({ result, checking: false, checkedAt: new Date() })
      timer = setTimeout(() => void check(), intervalMs)
    }

    void check()
    return () => {
      controller.abort()
      clearTimeout(timer)
    }
  }, [intervalMs, attempt])

  const retry = useCallback(() => setAttempt((n) => n + 1), [])
  return { ...state, retry }
}
