import { describe, expect, it } from 'vitest'

import type { Health, HealthResult, ServiceHealth } from '../../api/health.ts'
import { redactUrl, serviceLabel, summarize, toServiceRows, type Summary } from './status.ts'

function service(name: string, patch: Partial<ServiceHealth> = {}): ServiceHealth {
  return {
    name,
    setting: `${name.toUpperCase()}_URL`,
    url: `tcp://127.0.0.1/${name}`,
    embedded: true,
    up: true,
    latency_ms: 1.23,
    error: null,
    ...patch,
  }
}

function health(services: ServiceHealth[], status: Health['status'] = 'ok'): HealthResult {
  return { kind: 'ok', httpStatus: status === 'ok' ? 200 : 503, health: { status, version: '0.1.0', engine: '0.1.0', services } }
}

const down = (name: string) => service(name, { up: false, latency_ms: null, error: 'Connection refused' })

describe('serviceLabel', () => {
  it.each([
    ['postgres', 'PostgreSQL'],
    ['valkey', 'Valkey'],
    ['objects', 'Object storage'],
    ['ray', 'ray'],
  ])('%s -> %s', (name, label) => {
    expect(serviceLabel(name)).toBe(label)
  })
})

describe('redactUrl', () => {
  it.each([
    ['postgresql://127.0.0.1:5432/spikex', 'postgresql://127.0.0.1:5432/spikex'],
    ['postgresql://spikex:s3cret@db.internal:5432/spikex', 'postgresql://spikex:***@db.internal:5432/spikex'],
    ['redis://:hunter2@127.0.0.1:6379/0', 'redis://:***@127.0.0.1:6379/0'],
    ['redis://user@127.0.0.1:6379', 'redis://user@127.0.0.1:6379'],
    ['s3://bucket/prefix', 's3://bucket/prefix'],
    ['file:///var/lib/spikex/objects', 'file:///var/lib/spikex/objects'],
    ['http://host/path?next=a:b@c', 'http://host/path?next=a:b@c'],
  ])('%s -> %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected)
  })
})

describe('toServiceRows', () => {
  it('keeps the server order and describes each service', () => {
    const result = health([
      service('postgres', { url: 'postgresql://u:pw@127.0.0.1:5432/spikex', setting: 'DATABASE_URL' }),
      service('valkey', { up: false, latency_ms: 3, error: 'Connection refused', embedded: false }),
      service('objects', { up: false, latency_ms: null, error: null }),
    ], 'degraded')
    if (result.kind !== 'ok') throw new Error('fixture')
    expect(toServiceRows(result.health)).toEqual([
      {
        key: 'postgres',
        label: 'PostgreSQL',
        up: true,
        state: 'up',
        latency: '1.23 ms',
        setting: 'DATABASE_URL',
        target: 'postgresql://u:***@127.0.0.1:5432/spikex',
        embedded: true,
        error: null,
      },
      {
        key: 'valkey',
        label: 'Valkey',
        up: false,
        state: 'down',
        latency: '—',
        setting: 'VALKEY_URL',
        target: 'tcp://127.0.0.1/valkey',
        embedded: false,
        error: 'Connection refused',
      },
      {
        key: 'objects',
        label: 'Object storage',
        up: false,
        state: 'down',
        latency: '—',
        setting: 'OBJECTS_URL',
        target: 'tcp://127.0.0.1/objects',
        embedded: true,
        error: 'no answer',
      },
    ])
  })
})

describe('summarize', () => {
  it.each<[string, HealthResult | null, Summary]>([
    [
      'no answer yet',
      null,
      { tone: 'pending', title: 'Checking…', detail: 'Asking the server how its services are doing.' },
    ],
    [
      'all up',
      health([service('postgres'), service('valkey'), service('objects')]),
      { tone: 'up', title: 'All systems operational', detail: '3 services up.' },
    ],
    [
      'one service',
      health([service('postgres')]),
      { tone: 'up', title: 'All systems operational', detail: '1 service up.' },
    ],
    [
      'one down',
      health([service('postgres'), down('valkey'), service('objects')], 'degraded'),
      { tone: 'degraded', title: 'Degraded', detail: 'Valkey is down (1 of 3 services).' },
    ],
    [
      'two down',
      health([down('postgres'), service('valkey'), down('objects')], 'degraded'),
      { tone: 'degraded', title: 'Degraded', detail: 'PostgreSQL and Object storage are down (2 of 3 services).' },
    ],
    [
      'three down',
      health([down('postgres'), down('valkey'), down('objects')], 'degraded'),
      { tone: 'degraded', title: 'Degraded', detail: 'PostgreSQL, Valkey and Object storage are down (3 of 3 services).' },
    ],
    [
      'degraded with every service up',
      health([service('postgres')], 'degraded'),
      { tone: 'degraded', title: 'Degraded', detail: 'The server reports a problem with its services.' },
    ],
    [
      'unreachable',
      { kind: 'unreachable', message: 'Could not reach the SPIKE-X server.' },
      {
        tone: 'down',
        title: 'Server unreachable',
        detail: 'Could not reach the SPIKE-X server. Start it with `just run`; this page keeps trying.',
      },
    ],
    [
      'invalid',
      { kind: 'invalid', httpStatus: 404, message: 'The health check answered HTTP 404.' },
      { tone: 'down', title: 'Unexpected answer', detail: 'The health check answered HTTP 404.' },
    ],
  ])('%s', (_label, result, expected) => {
    expect(summarize(result)).toEqual(expected)
  })
})
