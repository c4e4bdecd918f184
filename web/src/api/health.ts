// GET /api/health: the payload types, a strict parser, and the fetch that classifies what came back.
// The server answers 200 when every service is up and 503 when one is down, with the same body.
// Hand-written for now; to be replaced by types generated from the server's OpenAPI schema.

export const HEALTH_PATH = '/api/health'

export type HealthStatus = 'ok' | 'degraded'

export interface ServiceHealth {
  name: string
  /** The environment variable that configures this service, e.g. DATABASE_URL. */
  setting: string
  url: string
  /** True when `just run` started the service itself (no URL configured). */
  embedded: boolean
  up: boolean
  latency_ms: number | null
  error: string | null
}

export interface Health {
  status: HealthStatus
  version: string
  engine: string
  services: ServiceHealth[]
}

export type HealthResult =
  /** The server answered with a health payload (HTTP 200 or 503). */
  | { kind: 'ok'; httpStatus: number; health: Health }
  /** Nothing answered: network error, time-out, or a proxy/gateway with no server behind it. */
  | { kind: 'unreachable'; message: string }
  /** Something answered, but not with a health payload. */
  | { kind: 'invalid'; httpStatus: number; message: string }

type Parsed<T> = { ok: true; value: T } | { ok: false; error: string }

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function parseService(value: unknown, index: number): Parsed<ServiceHealth> {
  const at = `services[${index}]`
  if (!isRecord(value)) return { ok: false, error: `${at} is not an object` }
  const { name, setting, url, embedded, up, latency_ms, error } = value
  if (typeof name !== 'string' || name === '') return { ok: false, error: `${at}.name is not a string` }
  if (typeof setting !== 'string') return { ok: false, error: `${at}.setting is not a string` }
  if (typeof url !== 'string') return { ok: false, error: `${at}.url is not a string` }
  if (typeof embedded !== 'boolean') return { ok: false, error: `${at}.embedded is not a boolean` }
  if (typeof up !== 'boolean') return { ok: false, error: `${at}.up is not a boolean` }
  if (latency_ms !== null && (typeof latency_ms !== 'number' || !Number.isFinite(latency_ms))) {
    return { ok: false, error: `${at}.latency_ms is not a number or null` }
  }
  if (error !== null && typeof error !== 'string') return { ok: false, error: `${at}.error is not a string or null` }
  return { ok: true, value: { name, setting, url, embedded, up, latency_ms, error } }
}

/** Checks that `value` (decoded JSON) is a health payload; extra fields are dropped. */
export function parseHealth(value: unknown): Parsed<Health> {
  if (!isRecord(value)) return { ok: false, error: 'body is not a JSON object' }
  const { status, version, engine, services } = value
  if (status !== 'ok' && status !== 'degraded') return { ok: false, error: 'status is not "ok" or "degraded"' }
  if (typeof version !== 'string') return { ok: false, error: 'version is not a string' }
  if (typeof engine !== 'string') return { ok: false, error: 'engine is not a string' }
  if (!Array.isArray(services)) return { ok: false, error: 'services is not a list' }
  const parsed: ServiceHealth[] = []
  for (const [index, item] of services.entries()) {
    const service = parseService(item, index)
    if (!service.ok) return service
    parsed.push(service.value)
  }
  return { ok: true, value: { status, version, engine, services: parsed } }
}

const GATEWAY_STATUSES = new Set([502, 504])

/** Turns an HTTP status and the raw body text into a result. Pure, so it is tested by table. */
export function classifyHealthResponse(httpStatus: number, body: string): HealthResult {
  const json = decodeJson(body)
  const parsed: Parsed<Health> = json.ok ? parseHealth(json.value) : { ok: false, error: 'body is not JSON' }
  if (parsed.ok) return { kind: 'ok', httpStatus, health: parsed.value }
  // A gateway error, or a 5xx with an empty body (Vite's dev proxy when nothing listens on the
  // API port), means the SPIKE-X server itself did not answer.
  if (GATEWAY_STATUSES.has(httpStatus) || (httpStatus >= 500 && body.trim() === '')) {
    return { kind: 'unreachable', message: `No answer from the SPIKE-X server (HTTP ${httpStatus} from a proxy).` }
  }
  if (httpStatus !== 200 && httpStatus !== 503) {
    const detail = json.ok && isRecord(json.value) && typeof json.value.detail === 'string' ? `: ${json.value.detail}` : ''
    return { kind: 'invalid', httpStatus, message: `The health check answered HTTP ${httpStatus}${detail}.` }
  }
  return { kind: 'invalid', httpStatus, message: `The health check answered with an unexpected body (${parsed.error}).` }
}

function decodeJson(text: string): Parsed<unknown> {
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch {
    return { ok: false, error: 'body is not JSON' }
  }
}

export interface FetchHealthOptions {
  signal?: AbortSignal
  /** Give up after this long and report the server as unreachable. */
  timeoutMs?: number
  fetchFn?: typeof fetch
}

export const DEFAULT_HEALTH_TIMEOUT_MS = 4000

/**
 * Fetches the health payload. Never throws for network or server trouble: that is a result.
 * Throws only an AbortError when `signal` is aborted by the caller.
 */
export async function fetchHealth(options: FetchHealthOptions = {}): Promise<HealthResult> {
  const { signal, timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS, fetchFn = fetch } = options
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, timeoutMs)
  const onAbort = () => controller.abort()
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    signal?.throwIfAborted()
    const response = await fetchFn(HEALTH_PATH, {
      headers: { Accept: 'application/json' },
      cache: 'no-store',
      signal: controller.signal,
    })
    const body = await response.text()
    return classifyHealthResponse(response.status, body)
  } catch (error) {
    if (signal?.aborted) throw error
    if (timedOut) {
      return { kind: 'unreachable', message: `The SPIKE-X server did not answer within ${timeoutMs / 1000} s.` }
    }
    return { kind: 'unreachable', message: 'Could not reach the SPIKE-X server.' }
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
}
