// Shows a pull on the terminal: on a TTY a cli-progress multibar (total bytes plus the file
// being fetched); elsewhere (logs, CI, pipes) one plain line per milestone and no bar.
import cliProgress from 'cli-progress';
import type { PullEvent, PullProgress } from './hub.js';

/** Decimal units, as the hub's web pages show sizes. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

export interface PullReporter {
  onProgress: (p: PullProgress) => void;
  onEvent: (e: PullEvent) => void;
  /** Removes the bars (call before printing anything else). */
  stop: () => void;
}

interface Output {
  isTTY?: boolean;
  write: (s: string) => unknown;
}

export function createPullReporter(out: Output): PullReporter {
  return out.isTTY ? barReporter(out as NodeJS.WriteStream) : lineReporter(out);
}

function describeEvent(e: PullEvent): string | undefined {
  switch (e.type) {
    case 'plan': {
      const at = e.commit ? `${e.revision} (${e.commit.slice(0, 10)})` : e.revision;
      return `${e.repo}@${at}: ${e.files.length} files, ${formatBytes(e.totalBytes)}`;
    }
    case 'skip':
      return `  have    ${e.file} (complete, verified)`;
    case 'start':
      return e.resumeFrom > 0
        ? `  resume  ${e.file} from ${formatBytes(e.resumeFrom)}${e.size !== undefined ? ` of ${formatBytes(e.size)}` : ''}`
        : `  get     ${e.file}${e.size !== undefined ? ` (${formatBytes(e.size)})` : ''}`;
    case 'retry':
      return `  retry   ${e.file ?? 'file list'} in ${(e.delayMs / 1000).toFixed(1)} s (try ${e.attempt}): ${e.reason}`;
    case 'restart':
      return `  restart ${e.file}: ${e.reason}`;
    case 'done':
      return `  done    ${e.file}`;
  }
}

function lineReporter(out: Output): PullReporter {
  return {
    onProgress: () => {},
    onEvent: (e) => {
      const line = describeEvent(e);
      if (line) out.write(`${line}\n`);
    },
    stop: () => {},
  };
}

function barReporter(stream: NodeJS.WriteStream): PullReporter {
  const multibar = new cliProgress.MultiBar(
    {
      stream,
      format: '{label} |{bar}| {percentage}% {done}/{size}',
      hideCursor: true,
      clearOnComplete: false,
      autopadding: true,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  const received = new Map<string, number>();
  let totalBytes = 0;
  let totalBar: cliProgress.SingleBar | undefined;
  let fileBar: { file: string; bar: cliProgress.SingleBar } | undefined;
  let stopped = false;

  // Fixed-width labels keep the bars aligned.
  const label = (file: string): string => (file.length > 32 ? `…${file.slice(-31)}` : file.padEnd(32));
  const updateTotal = (): void => {
    const done = [...received.values()].reduce((a, b) => a + b, 0);
    totalBar?.update(Math.min(done, totalBytes), { label: label('total'), done: formatBytes(done), size: formatBytes(totalBytes) });
  };

  return {
    onProgress: (p) => {
      if (stopped) return;
      received.set(p.file, p.received);
      if (fileBar?.file !== p.file) {
        if (fileBar) multibar.remove(fileBar.bar);
        fileBar = { file: p.file, bar: multibar.create(Math.max(p.total, 1), 0, { label: label(p.file), done: '', size: '' }) };
      }
      fileBar.bar.setTotal(Math.max(p.total, 1));
      fileBar.bar.update(p.received, { label: label(p.file), done: formatBytes(p.received), size: formatBytes(p.total) });
      updateTotal();
    },
    onEvent: (e) => {
      if (e.type === 'plan') {
        totalBytes = e.totalBytes;
        totalBar = multibar.create(Math.max(totalBytes, 1), 0, { label: label('total'), done: formatBytes(0), size: formatBytes(totalBytes) });
      }
      // Byte counts are on the bars; log only what a bar cannot show.
      if (e.type === 'start' || e.type === 'done' || stopped) return;
      const line = describeEvent(e);
      if (!line) return;
      // The multibar prints logs on its next redraw, and it only redraws while it has bars.
      if (totalBar) multibar.log(`${line}\n`);
      else stream.write(`${line}\n`);
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      if (!totalBar) return;
      if (fileBar) multibar.remove(fileBar.bar);
      multibar.update(); // flush pending log lines
      multibar.stop();
    },
  };
}
