import { describe, expect, it } from 'vitest'

import { classifyHealthResponse, fetchHealth, parseHealth, type Health } from './health.ts'

const allUp: Health = {
  status: 'ok',
  version: '0.1.0',
  engine: '0.1.0',
  services: [
    {
      name: 'postgres',
      setting: 'DATABASE_URL',
      url: 'postgresql://127.0.0.1:5432/spikex',
      embedded: true,
      up: true,
      latency_ms: 1.23,
      error: null,
    },
    {
      name: 'valkey',
      setting: 'VALKEY_URL',
      url: 'redis://127.0.0.1:6379/0',
      embedded: true,
      up: true,
      latency_ms: 0.4,
      error: null,
    },
    {
      name: 'objects',
      setting: 'OBJECT_STORE_URL',
      url: 'file:///var/lib/spikex/objects',
      embedded: true,
      up: true,
      latency_ms: 0.1,
      error: null,
    },
  ],
}

const valkeyDown: Health = {
  ...allUp,
  status: 'degraded',
  services: allUp.services.map((s) =>
    s.name === 'valkey' ? { ...s, up: false, latency_ms: null, error: 'Connection refused' } : s,
  ),
}

function withService(patch: Record<string, unknown>): unknown {
  return { ...allUp, services: [{ ...allUp.services[0], ...patch }] }
}

describe('parseHealth', () => {
  it('accepts the documented payloads', () => {
    expect(parseHealth(allUp)).toEqual({ ok: true, value: allUp })
    expect(parseHealth(valkeyDown)).toEqual({ ok: true, value: valkeyDown })
  })

  it('drops fields it does not know', () => {
    const parsed = parseHealth({ ...allUp, extra: 1, services: [{ ...allUp.services[0], extra: 2 }] })
    expect(parsed).toEqual({ ok: true, value: { ...allUp, services: [allUp.services[0]] } })
  })

  it.each<[string, unknown, string]>([
    ['null', null, 'body is not a JSON object'],
    ['a list', [allUp], 'body is not a JSON object'],
    ['an unknown status', { ...allUp, status: 'fine' }, 'status is not "ok" or "degraded"'],
    ['a numeric version', { ...allUp, version: 1 }, 'version is not a string'],
    ['no engine', { ...allUp, engine: undefined }, 'engine is not a string'],
    ['services as an object', { ...allUp, services: {} }, 'services is not a list'],
    ['a service that is a string', { ...allUp, services: ['postgres'] }, 'services[0] is not an object'],
    ['an empty service name', withService({ name: '' }), 'services[0].name is not a string'],
    ['up as a string', withService({ up: 'yes' }), 'services[0].up is not a boolean'],
    ['embedded missing', withService({ embedded: undefined }), 'services[0].embedded is not a boolean'],
    ['latency as a string', withService({ latency_ms: '1.2' }), 'services[0].latency_ms is not a number or null'],
    ['error as a number', withService({ error: 5 }), 'services[0].error is not a string or null'],
  ])('rejects %s', (_label, value, error) => {
    expect(parseHealth(value)).toEqual({ ok: false, error })
  })
})

describe('classifyHealthResponse', () => {
  it.each<[string, number, string, unknown]>([
    ['all up', 200, JSON.stringify(allUp), { kind: 'ok', httpStatus: 200, health: allUp }],
    ['one down', 503, JSON.stringify(valkeyDown), { kind: 'ok', httpStatus: 503, health: valkeyDown }],
    [
      'dev proxy with no server',
      500,
      '',
      { kind: 'unreachable', message: 'No answer from the SPIKE-X server (HTTP 500 from a proxy).' },
    ],
    [
      'bad gateway page',
      502,
      '<html>Bad Gateway</html>',
      { kind: 'unreachable', message: 'No answer from the SPIKE-X server (HTTP 502 from a proxy).' },
    ],
    [
      'gateway time-out',
      504,
      '',
      { kind: 'unreachable', message: 'No answer from the SPIKE-X server (HTTP 504 from a proxy).' },
    ],
    [
      'server error with a detail',
      500,
      '{"status_code":500,"detail":"Internal Server Error"}',
      { kind: 'invalid', httpStatus: 500, message: 'The health check answered HTTP 500: Internal Server Error.' },
    ],
    [
      'not found',
      404,
      'Not Found',
      { kind: 'invalid', httpStatus: 404, message: 'The health check answered HTTP 404.' },
    ],
    [
      '200 with HTML (SPA fallback)',
      200,
      '<!doctype html>',
      { kind: 'invalid', httpStatus: 200, message: 'The health check answered with an unexpected body (body is not JSON).' },
    ],
    [
      '503 with the wrong shape',
      503,
      '{"status":"down"}',
      {
        kind: 'invalid',
        httpStatus: 503,
        message: 'The health check answered with an unexpected body (status is not "ok" or "degraded").',
      },
    ],
  ])('%s', (_label, status, body, expected) => {
    expect(classifyHealthResponse(status, body)).toEqual(expected)
  })
})

describe('fetchHealth', () => {
  const answer =
    (status: number, body: string): typeof fetch =>
    async () =>
      new Response(body, { status })

  const never: typeof fetch = (_input, init) =>
    new Promise((_resolve, reject) => {
      init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))
    })

  it('asks /api/health for JSON and classifies the answer', async () => {
    const seen: string[] = []
    const fetchFn: typeof fetch = async (input, init) => {
      seen.push(`${String(input)} ${new Headers(init?.headers).get('accept')}`)
      return new Response(JSON.stringify(valkeyDown), { status: 503 })
    }
    await expect(fetchHealth({ fetchFn })).resolves.toEqual({ kind: 'ok', httpStatus: 503, health: valkeyDown })
    expect(seen).toEqual(['/api/health application/json'])
  })

  it('reports a network error as unreachable', async () => {
    const fetchFn: typeof fetch = async () => {
      throw new TypeError('Failed to fetch')
    }
    await expect(fetchHealth({ fetchFn })).resolves.toEqual({
      kind: 'unreachable',
      message: 'Could not reach the SPIKE-X server.',
    })
  })

  it('reports a time-out as unreachable', async () => {
    await expect(fetchHealth({ fetchFn: never, timeoutMs: 10 })).resolves.toEqual({
      kind: 'unreachable',
      message: 'The SPIKE-X server did not answer within 0.01 s.',
    })
  })

  it('rethrows when the caller aborts', async () => {
    const controller = new AbortController()
    const pending = fetchHealth({ fetchFn: never, signal: controller.signal })
    controller.abort()
    await expect(pending).rejects.toThrow()
  })

  it('passes a non-health answer through the classifier', async () => {
    await expect(fetchHealth({ fetchFn: answer(404, 'Not Found') })).resolves.toEqual({
      kind: 'invalid',
      httpStatus: 404,
      message: 'The health check answered HTTP 404.',
    })
  })
})
