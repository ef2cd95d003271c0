// Prometheus metrics of the job queue, in a registry of their own (one per queue, so tests
// and benchmarks can run several queues in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface QueueMetrics {
  registry: Registry;
  /** Jobs running on or expected next on each device. */
  queueLength: Gauge<'device'>;
  waitingJobs: Gauge;
  waitSeconds: Histogram<'device'>;
  runSeconds: Histogram<'device' | 'kind'>;
  jobsTotal: Counter<'outcome'>;
  workerRestarts: Counter<'device'>;
  /** Writes to DATA_DIR (database rows, image files) that failed for lack of space or a broken disk. */
  storageErrors: Counter<'operation'>;
}

export function createQueueMetrics(opts: { defaultMetrics?: boolean } = {}): QueueMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    queueLength: new Gauge({
      name: 'imagine_queue_length',
      help: 'Jobs running on a device plus waiting jobs expected to run on it',
      labelNames: ['device'],
      registers,
    }),
    waitingJobs: new Gauge({ name: 'imagine_queue_waiting_jobs', help: 'Jobs waiting for a device', registers }),
    waitSeconds: new Histogram({
      name: 'imagine_job_wait_seconds',
      help: 'Time from submission to start',
      labelNames: ['device'],
      buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800],
      registers,
    }),
    runSeconds: new Histogram({
      name: 'imagine_job_run_seconds',
      help: 'Time from start to finish of a run',
      labelNames: ['device', 'kind'],
      buckets: [0.1, 0.5, 1, 2, 5, 10, 20, 40, 80, 160, 320],
      registers,
    }),
    jobsTotal: new Counter({ name: 'imagine_jobs_total', help: 'Finished jobs by outcome', labelNames: ['outcome'], registers }),
    workerRestarts: new Counter({
      name: 'imagine_worker_restarts_total',
      help: 'Device worker processes restarted after dying',
      labelNames: ['device'],
      registers,
    }),
    storageErrors: new Counter({
      name: 'imagine_storage_errors_total',
      help: 'Writes to DATA_DIR that failed (disk or database full, I/O error)',
      labelNames: ['operation'],
      registers,
    }),
  };
}
