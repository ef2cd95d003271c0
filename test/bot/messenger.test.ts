import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DiscordAPIError, type REST } from 'discord.js';
import { Messenger, TOKEN_LIFETIME_MS } from '../../src/bot/messenger.js';
import type { JobRecord } from '../../src/queue/types.js';
import { jobRecord } from '../support/job-record.js';

interface Call {
  method: string;
  route: string;
  body: Record<string, unknown>;
  files: { name: string }[];
  auth?: boolean;
}

/** Records REST calls; answers with a message id or the Discord error a rule names. */
class FakeRest {
  calls: Call[] = [];
  rules: { method: string; route: RegExp; status: number; code: number }[] = [];
  private next = 100;

  failWith(method: string, route: RegExp, status: number, code: number): this {
    this.rules.push({ method, route, status, code });
    return this;
  }

  post(route: string, opts: { body: Record<string, unknown>; files?: { name: string }[]; auth?: boolean }) {
    return this.handle('POST', route, opts);
  }

  patch(route: string, opts: { body: Record<string, unknown>; files?: { name: string }[]; auth?: boolean }) {
    return this.handle('PATCH', route, opts);
  }

  private async handle(method: string, route: string, opts: { body: Record<string, unknown>; files?: { name: string }[]; auth?: boolean }) {
    this.calls.push({ method, route, body: opts.body, files: opts.files ?? [], auth: opts.auth });
    const rule = this.rules.find((r) => r.method === method && r.route.test(route));
    if (rule) throw new DiscordAPIError({ message: 'refused', code: rule.code }, rule.code, rule.status, method, route, { body: opts.body });
    const id = method === 'PATCH' && !route.endsWith('original') ? route.split('/').pop()! : String(this.next++);
    return { id };
  }
}

const NOW = 1_700_000_000_000;

function job(over: Partial<JobRecord> = {}): JobRecord {
  return jobRecord({
    id: 'job-1',
    kind: 'txt2img',
    model: 'tiny',
    request: { prompt: 'p', seed: 1, steps: 2, guidanceScale: 7, width: 64, height: 64, count: 1 },
    requester: { userId: 'u1', username: 'alice', guildId: 'g1', channelId: 'c1' },
    state: 'done',
    createdAt: NOW,
    attempts: 1,
    outputs: [],
    seeds: [1],
    nsfw: [],
    ...over,
  });
}

const interaction = (ageMs: number) => ({ applicationId: 'app', token: 'tok', createdAt: NOW - ageMs });
const payload = { content: 'result', files: [{ name: 'a.png', data: Buffer.from('x'), contentType: 'image/png' }] };

test('an /imagine result is a channel reply pinging the requester; the progress message is closed through the live token', async () => {
  const rest = new FakeRest();
  const m = new Messenger(rest as unknown as REST, () => NOW);
  const j = job({ interaction: interaction(60_000), messageId: 'm1' });
  const id = await m.deliverFinal(j, payload, { mode: 'reply', closing: { content: 'done, see below', components: [] } });
  assert.deepEqual(
    rest.calls.map((c) => `${c.method} ${c.route}`),
    ['POST /channels/c1/messages', 'PATCH /webhooks/app/tok/messages/%40original'],
  );
  const post = rest.calls[0].body;
  assert.equal(post.content, '<@u1> result');
  assert.deepEqual(post.allowed_mentions, { parse: [], users: ['u1'] });
  assert.deepEqual(post.message_reference, { message_id: 'm1', fail_if_not_exists: false });
  assert.deepEqual(post.attachments, [{ id: 0, filename: 'a.png' }]);
  assert.equal(rest.calls[1].auth, false, 'webhook calls carry the token in the URL, not the bot token');
  assert.deepEqual(rest.calls[1].body.attachments, [], 'the closing edit removes the stale preview');
  assert.equal(id, '100');
});

test('an expired token (by the bot’s clock) is never used: the closing edit goes through the channel', async () => {
  const rest = new FakeRest();
  const m = new Messenger(rest as unknown as REST, () => NOW);
  const j = job({ interaction: interaction(TOKEN_LIFETIME_MS - 10_000), messageId: 'm1' });
  assert.equal(m.tokenUsable(j.interaction), false, 'within the safety margin counts as expired');
  await m.deliverFinal(j, payload, { mode: 'reply', closing: { content: 'done', components: [] } });
  assert.deepEqual(
    rest.calls.map((c) => `${c.method} ${c.route}`),
    ['POST /channels/c1/messages', 'PATCH /channels/c1/messages/m1'],
  );
});

test('when Discord says the token is dead (50027), the channel takes over and the token is not tried again', async () => {
  const rest = new FakeRest().failWith('PATCH', /^\/webhooks\//, 401, 50027);
  const m = new Messenger(rest as unknown as REST, () => NOW);
  const j = job({ state: 'running', interaction: interaction(1000), messageId: 'm1' });
  await m.editJobMessage(j, { content: 'step 1' });
  await m.editJobMessage(j, { content: 'step 2' });
  assert.equal(await m.deliverFinal({ ...j, state: 'failed' }, { content: 'failed' }, { mode: 'in-place' }), 'm1');
  assert.deepEqual(
    rest.calls.map((c) => `${c.method} ${c.route}`),
    ['PATCH /webhooks/app/tok/messages/%40original', 'PATCH /channels/c1/messages/m1', 'PATCH /channels/c1/messages/m1', 'PATCH /channels/c1/messages/m1'],
  );
});

test('in place: a live token edits the interaction response', async () => {
  const rest = new FakeRest();
  const m = new Messenger(rest as unknown as REST, () => NOW);
  await m.deliverFinal(job({ state: 'cancelled', interaction: interaction(1000), messageId: 'm1' }), { content: 'cancelled' }, { mode: 'in-place' });
  assert.deepEqual(
    rest.calls.map((c) => `${c.method} ${c.route}`),
    ['PATCH /webhooks/app/tok/messages/%40original'],
  );
});

test('a button job edits its channel message, or posts anew when Discord refuses the edit (30046)', async () => {
  const rest = new FakeRest();
  const m = new Messenger(rest as unknown as REST, () => NOW);
  const j = job({ messageId: 'm2', parent: { jobId: 'job-0', imageIndex: 1 } });
  assert.equal(await m.deliverFinal(j, payload, { mode: 'in-place' }), 'm2');
  rest.failWith('PATCH', /m2$/, 400, 30046);
  const id = await m.deliverFinal(j, payload, { mode: 'in-place', fallbackReplyTo: 'grid' });
  assert.equal(id, '100');
  assert.deepEqual(rest.calls.at(-1)!.body.message_reference, { message_id: 'm2', fail_if_not_exists: false });
  assert.deepEqual(rest.calls.at(-1)!.body.allowed_mentions, { parse: [], users: ['u1'] });
});

test('where the bot may not post, an /imagine result goes into the interaction response instead', async () => {
  const rest = new FakeRest().failWith('POST', /messages$/, 403, 50013);
  const m = new Messenger(rest as unknown as REST, () => NOW);
  const id = await m.deliverFinal(job({ interaction: interaction(1000), messageId: 'm1' }), payload, { mode: 'reply' });
  assert.equal(id, '100');
  assert.deepEqual(
    rest.calls.map((c) => `${c.method} ${c.route}`),
    ['POST /channels/c1/messages', 'PATCH /webhooks/app/tok/messages/%40original'],
  );
});

test('Discord errors that leave no way to show the result are not swallowed', async () => {
  const rest = new FakeRest().failWith('POST', /messages$/, 403, 50013).failWith('PATCH', /^\/channels\//, 403, 50013);
  const m = new Messenger(rest as unknown as REST, () => NOW);
  await assert.rejects(
    m.deliverFinal(job({ interaction: interaction(TOKEN_LIFETIME_MS), messageId: 'm1' }), payload, { mode: 'reply' }),
    (e: unknown) => e instanceof DiscordAPIError && e.code === 50013,
  );
});
