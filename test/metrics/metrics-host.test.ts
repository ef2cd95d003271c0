// METRICS_HOST: /metrics and /healthz have no authentication, so loopback unless widened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { loadEnv } from '../../src/config/env.js';
import { startMetricsServer, type ObservableQueue } from '../../src/metrics/server.js';

const queue: ObservableQueue = { metricsRegistry: new Registry(), health: () => ({ ok: true, workers: [] }) };

test('METRICS_HOST defaults to 127.0.0.1; empty means the default; a bad value is named', () => {
  assert.equal(loadEnv({}).METRICS_HOST, '127.0.0.1');
  assert.equal(loadEnv({ METRICS_HOST: '' }).METRICS_HOST, '127.0.0.1');
  assert.equal(loadEnv({ METRICS_HOST: ' 0.0.0.0 ' }).METRICS_HOST, '0.0.0.0');
  assert.equal(loadEnv({ METRICS_HOST: '::1' }).METRICS_HOST, '::1');
  assert.throws(() => loadEnv({ METRICS_HOST: 'a b' }), /METRICS_HOST: must be an IP address or host name/);
});

test('startMetricsServer listens on loopback unless told otherwise', async () => {
  const server = await startMetricsServer(0, queue);
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    assert.equal(res.status, 200);
    await assert.rejects(fetch(`http://127.0.0.2:${server.port}/healthz`), 'not on other addresses');
  } finally {
    await server.close();
  }
  const wide = await startMetricsServer(0, queue, '0.0.0.0');
  try {
    assert.equal((await fetch(`http://127.0.0.2:${wide.port}/healthz`)).status, 200, 'METRICS_HOST=0.0.0.0 widens it');
  } finally {
    await wide.close();
  }
});
