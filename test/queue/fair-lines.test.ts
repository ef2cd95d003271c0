// The fair ordering on its own: round-robin over users, newcomers first, front jobs first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FairLines } from '../../src/queue/fair-lines.js';

let seq = 0;
const job = (userId: string, id = `${userId}${++seq}`) => ({ id, userId, seq });

test('users are served in turn, and ordered() predicts shift()', () => {
  const lines = new FairLines<ReturnType<typeof job>>();
  for (let i = 0; i < 4; i++) lines.push(job('A', `A${i}`));
  assert.equal(lines.shift()?.id, 'A0');
  lines.push(job('B', 'B0'));
  lines.push(job('B', 'B1'));
  lines.push(job('C', 'C0'));
  lines.pushFront(job('A', 'R'));
  const predicted = lines.ordered().map((j) => j.id);
  assert.deepEqual(predicted, ['R', 'B0', 'C0', 'A1', 'B1', 'A2', 'A3']);
  assert.equal(lines.countForUser('A'), 4);
  assert.equal(lines.remove('C0')?.id, 'C0');
  const actual: string[] = [];
  for (let j = lines.shift(); j; j = lines.shift()) actual.push(j.id);
  assert.deepEqual(actual, ['R', 'B0', 'A1', 'B1', 'A2', 'A3']);
  assert.equal(lines.size, 0);
});

test('ordered() predicts shift() after any mix of pushes, turns, removals and front jobs', () => {
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let round = 0; round < 200; round++) {
    const lines = new FairLines<{ id: string; userId: string; seq: number }>();
    let seq = 0;
    for (let step = 0; step < 40; step++) {
      const r = random();
      const job = { id: `j${seq}`, userId: `u${Math.floor(random() * 6)}`, seq: seq++ };
      if (r < 0.55) lines.push(job);
      else if (r < 0.6) lines.pushFront(job);
      else if (r < 0.85) lines.shift();
      else lines.remove(`j${Math.floor(random() * seq)}`);
    }
    const predicted = lines.ordered().map((j) => j.id);
    const actual: string[] = [];
    for (let j = lines.shift(); j; j = lines.shift()) actual.push(j.id);
    assert.deepEqual(predicted, actual, `round ${round}`);
  }
});
