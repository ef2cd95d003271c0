// /healthz and /metrics over plain HTTP; started by main only when METRICS_PORT is set. They have
// no authentication, so they listen on loopback unless METRICS_HOST widens it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { logger } from '../log.js';

/** What the server needs from a queue or a worker host (both backends provide it). */
export interface ObservableQueue {
  readonly metricsRegistry: Registry;
  /** `queued`: waiting jobs, where this process knows them (a worker host does not). */
  health(): { ok: boolean; workers: { device: string; pid: number | undefined; alive: boolean; busy: boolean }[]; queued?: number };
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(port: number, queue: ObservableQueue, host = '127.0.0.1'): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
    } else if (path === '/healthz') {
      const h = queue.health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h));
    } else if (path === '/metrics') {
      queue.metricsRegistry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': queue.metricsRegistry.contentType }).end(text),
        (err: unknown) => {
          logger.error({ err }, 'metrics collection failed');
          res.writeHead(500).end();
        },
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  logger.info({ host, port: actual }, 'metrics server listening');
  return {
    port: actual,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
