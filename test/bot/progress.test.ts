import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ThrottledEditor } from '../../src/bot/progress.js';

function recorder(delayMs = 0) {
  const sent: { label: string; start: number; end: number }[] = [];
  const edit = (label: string) => async () => {
    const start = performance.now();
    if (delayMs) await sleep(delayMs);
    sent.push({ label, start, end: performance.now() });
  };
  return { sent, edit };
}

test('the first edit goes out at once; later ones wait the interval and only the newest is sent', async () => {
  const { sent, edit } = recorder(10);
  const editor = new ThrottledEditor(100, (e) => assert.fail(String(e)));
  const t0 = performance.now();
  editor.update(edit('queued'));
  await sleep(5);
  for (let step = 1; step <= 20; step++) editor.update(edit(`step ${step}`));
  await sleep(300);
  assert.deepEqual(
    sent.map((s) => s.label),
    ['queued', 'step 20'],
  );
  assert.ok(sent[0].start - t0 < 30, 'first edit immediate');
  assert.ok(sent[1].start - sent[0].end >= 95, `waited ${sent[1].start - sent[0].end} ms after the previous edit`);
});

test('finish drops what is pending, waits for the edit in flight, then sends the last state', async () => {
  const { sent, edit } = recorder(40);
  const editor = new ThrottledEditor(1000, (e) => assert.fail(String(e)));
  editor.update(edit('queued'));
  await sleep(5); // 'queued' is now in flight
  editor.update(edit('step 5'));
  const result = await editor.finish(async () => {
    sent.push({ label: 'final', start: performance.now(), end: performance.now() });
    return 'id';
  });
  assert.equal(result, 'id');
  assert.deepEqual(
    sent.map((s) => s.label),
    ['queued', 'final'],
  );
  editor.update(edit('late progress'));
  await sleep(60);
  assert.deepEqual(
    sent.map((s) => s.label),
    ['queued', 'final'],
    'updates after finish are ignored',
  );
  assert.ok(editor.isClosed);
});

test('a failed edit is reported and does not stop the next one', async () => {
  const errors: unknown[] = [];
  const sent: string[] = [];
  const editor = new ThrottledEditor(20, (e) => errors.push(e));
  editor.update(async () => {
    throw new Error('429');
  });
  await sleep(5);
  editor.update(async () => {
    sent.push('next');
  });
  await sleep(80);
  assert.equal(errors.length, 1);
  assert.deepEqual(sent, ['next']);
});
