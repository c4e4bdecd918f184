// Pure display logic for the system status panel: health result in, text and tones out.

import type { Health, HealthResult } from '../../api/health.ts'
import { formatLatency } from '../../lib/format.ts'

export type Tone = 'pending' | 'up' | 'degraded' | 'down'

export interface Summary {
  tone: Tone
  title: string
  detail: string
}

export interface ServiceRow {
  key: string
  label: string
  up: boolean
  /** "up" or "down": the state in words, so colour is never the only signal. */
  state: 'up' | 'down'
  latency: string
  /** The environment variable that configures the service. */
  setting: string
  /** Where the service lives, with any password masked. */
  target: string
  embedded: boolean
  error: string | null
}

const SERVICE_LABELS: Record<string, string> = {
  postgres: 'PostgreSQL',
  valkey: 'Valkey',
  objects: 'Object storage',
}

/** A readable name for a service; unknown services keep the server's name. */
export function serviceLabel(name: string): string {
  return SERVICE_LABELS[name] ?? name
}

const USERINFO_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^/?#@]*@/i

/** Masks the password in a URL's user info: "postgresql://u:secret@h/db" -> "postgresql://u:***@h/db". */
export function redactUrl(url: string): string {
  return url.replace(USERINFO_PASSWORD, '$1:***@')
}

export function toServiceRows(health: Health): ServiceRow[] {
  return health.services.map((service) => ({
    key: service.name,
    label: serviceLabel(service.name),
    up: service.up,
    state: service.up ? 'up' : 'down',
    latency: service.up ? formatLatency(service.latency_ms) : formatLatency(null),
    setting: service.setting,
    target: redactUrl(service.url),
    embedded: service.embedded,
    error: service.up ? null : (service.error ?? 'no answer'),
  }))
}

function listNames(names: string[]): string {
  if (names.length <= 1) return names.join('')
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`
}

/** The one-line overall state shown above the service list. `null` means no answer yet. */
export function summarize(result: HealthResult | null): Summary {
  if (result === null) {
    return { tone: 'pending', title: 'Checking…', detail: 'Asking the server how its services are doing.' }
  }
  switch (result.kind) {
    case 'unreachable':
      return {
        tone: 'down',
        title: 'Server unreachable',
        detail: `${result.message} Start it with \`just run\`; this page keeps trying.`,
      }
    case 'invalid':
      return { tone: 'down', title: 'Unexpected answer', detail: result.message }
    case 'ok': {
      const { services, status } = result.health
      const down = services.filter((service) => !service.up).map((service) => serviceLabel(service.name))
      if (down.length > 0) {
        const verb = down.length === 1 ? 'is' : 'are'
        return {
          tone: 'degraded',
          title: 'Degraded',
          detail: `${listNames(down)} ${verb} down (${down.length} of ${services.length} services).`,
        }
      }
      if (status !== 'ok') {
        return { tone: 'degraded', title: 'Degraded', detail: 'The server reports a problem with its services.' }
      }
      const count = services.length === 1 ? '1 service' : `${services.length} services`
      return { tone: 'up', title: 'All systems operational', detail: `${count} up.` }
    }
  }
}
