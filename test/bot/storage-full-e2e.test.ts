// The real bot process with DATA_DIR on a 2 MiB tmpfs that fills up mid-job (issue 14, "a full
// disk kills the bot"): the job fails with a clear message in Discord, a new /imagine is refused
// with it, the process stays up, and once space returns it draws again without a restart.
// Mounting needs root; elsewhere the queue-level tests (test/queue/storage-full.test.ts) cover it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resultOf, startHarness, type BotProcess, type Harness } from './harness.js';

const mountPoint = mkdtempSync(join(tmpdir(), 'bot-tmpfs-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], { stdio: 'pipe' });
  mounted = true;
} catch (err) {
  rmSync(mountPoint, { recursive: true, force: true });
  process.stderr.write(`storage-full e2e skipped: cannot mount a tmpfs here (needs root): ${(err as Error).message.split('\n')[0]}\n`);
}
const skip = mounted ? false : 'cannot mount a tmpfs here (needs root); test/queue/storage-full.test.ts covers the same path without root';

let h: Harness;
let bot: BotProcess;
const filler = join(mountPoint, 'filler');

before(async () => {
  if (!mounted) return;
  h = await startHarness();
  bot = await h.startBot({ DATA_DIR: join(mountPoint, 'data'), DEVICES: 'noop:0', NOOP_STEP_MS: '100' });
});

after(async () => {
  if (!mounted) return;
  await h.close();
  execFileSync('umount', [mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

test('a disk that fills up mid-job: the job fails with a clear message, the bot stays up and draws again once space returns', { skip }, async () => {
  const first = await h.discord.slash('imagine', { prompt: 'before', steps: 2, size: '64x64' });
  await first.ack();
  await resultOf(h.discord, first);

  const during = await h.discord.slash('imagine', { prompt: 'during', steps: 40, size: '64x64' });
  await during.ack();
  // Running (its rows written): now the disk fills, before its images and final state are written.
  await during.waitForOriginal((m) => /Step \d+\/40/.test(m.content), { timeoutMs: 20_000 });
  fillDisk(filler);
  const failed = await h.discord.waitFor(() => during.messages().find((m) => /storage is full/.test(m.content)), {
    timeoutMs: 20_000,
    message: 'the failure notice of the job the full disk hit',
  });
  assert.match(failed.content, /Generation failed/);

  const refused = await h.discord.slash('imagine', { prompt: 'while full', steps: 2, size: '64x64' });
  await refused.ack();
  await h.discord.waitFor(() => refused.messages().find((m) => /storage is full/.test(m.content)), {
    timeoutMs: 10_000,
    message: 'a refusal that names the full storage',
  });
  assert.equal(bot.child.exitCode, null, `the bot is still running:\n${bot.log}`);

  rmSync(filler);
  const again = await h.discord.slash('imagine', { prompt: 'after', steps: 2, size: '64x64' });
  await again.ack();
  await resultOf(h.discord, again);
  assert.equal(bot.child.exitCode, null);
  await bot.expectLog(/could not write to DATA_DIR/, 'the owner finds it in the log');
});

/** Writes `path` until the file system has no space left. */
function fillDisk(path: string): void {
  for (const size of [64 * 1024, 512]) {
    const fd = openSync(path, 'a');
    try {
      for (;;) writeSync(fd, Buffer.alloc(size));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      closeSync(fd);
    }
  }
}
