import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { encodeCustomId, MAX_CUSTOM_ID_LENGTH, parseCustomId, type ButtonAction } from '../../src/bot/custom-id.js';

test('every action round-trips and fits Discord’s 100 characters', () => {
  const jobId = randomUUID();
  for (const action of ['upscale', 'variation', 'reroll', 'cancel', 'info'] as ButtonAction[]) {
    for (const index of [0, 3]) {
      const id = encodeCustomId({ action, jobId, index });
      assert.ok(id.length <= MAX_CUSTOM_ID_LENGTH);
      assert.deepEqual(parseCustomId(id), { action, jobId, index });
    }
  }
  assert.equal(encodeCustomId({ action: 'upscale', jobId: 'abc', index: 1 }), 'img:U:abc:1');
});

test('foreign or malformed ids are not ours', () => {
  for (const id of ['', 'img:Z:abc:1', 'img:U:abc', 'img:U:abc:12', 'img:U::1', 'other:U:abc:1', `img:U:${'a'.repeat(95)}:1`, 'img:U:a/b:1']) {
    assert.equal(parseCustomId(id), undefined, id);
  }
  assert.throws(() => encodeCustomId({ action: 'upscale', jobId: 'has:colon', index: 0 }));
});
