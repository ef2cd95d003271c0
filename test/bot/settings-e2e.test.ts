// /settings end to end: the real bot process against the Discord stand-in. Who may use it, each
// setting's round trip (confirmation, audit row, effect on /imagine, restart), and the commands
// for everybody: /models, /queue, /cancel, /stats.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DEFAULT_GUILDS } from '../support/discord/options.js';
import type { InteractionContext, SlashOptions, ViewMessage } from '../support/discord/index.js';
import { embedField as field, refusalOf, resultOf, startHarness, type BotProcess, type Harness } from './harness.js';

// Simulated devices: these tests are about settings, not pictures. A 50-step job stays 2 s
// (40 ms per step) in the queue long enough for /queue and /cancel to see it.
const BOT_ENV = { DEVICES: 'noop:0', NOOP_STEP_MS: '40' };
let h: Harness;
let bot: BotProcess;

before(async () => {
  const guild = DEFAULT_GUILDS[0];
  h = await startHarness({ guilds: [{ ...guild, members: [...(guild.members ?? []), { username: 'bob' }] }] });
  bot = await h.startBot(BOT_ENV);
});

after(async () => {
  assert.deepEqual(
    h.discord.unhandledRequests().map((r) => `${r.method} ${r.path}`),
    [],
  );
  assert.deepEqual(h.discord.errors, []);
  await h.close();
});

/** Runs a command and returns the bot's (ephemeral) answer. */
async function ask(command: string, options: SlashOptions = {}, ctx: InteractionContext = { user: 'mod' }): Promise<ViewMessage> {
  const run = await h.discord.slash(command, options, ctx);
  await run.ack();
  return run.waitForOriginal((m) => !m.loading, { timeoutMs: 10_000 });
}

interface AuditRow {
  guild_id: string;
  user_id: string;
  at: number;
  setting: string;
  before_json: string | null;
  after_json: string | null;
}

function auditRows(): AuditRow[] {
  const db = new Database(join(h.dataDir, 'bot.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT * FROM settings_audit ORDER BY id').all() as AuditRow[];
  } finally {
    db.close();
  }
}

test('a member without Manage Server cannot see /settings, and is refused when it runs anyway', async () => {
  await assert.rejects(h.discord.slash('settings view', {}, { user: 'alice' }), /default_member_permissions \d+ hides it/);
  await assert.rejects(h.discord.slash('stats', {}, { user: 'alice' }), /default_member_permissions \d+ hides it/);

  // An admin may open the command to everyone (Server Settings → Integrations): the bot checks again.
  const granted = await ask('settings limits', { max_steps: 5 }, { user: 'alice', skipClientChecks: true });
  assert.ok(granted.ephemeral);
  assert.match(granted.content, /Only members with the \*\*Manage Server\*\* permission/);
  // The moderator's permission was taken away after their client listed the command.
  const demoted = await ask('settings reset', {}, { user: 'mod', memberPermissions: ['ViewChannel', 'SendMessages', 'UseApplicationCommands'] });
  assert.match(demoted.content, /Only members with the \*\*Manage Server\*\* permission/);
  const stats = await ask('stats', {}, { user: 'alice', skipClientChecks: true });
  assert.match(stats.content, /Only members with the \*\*Manage Server\*\* permission/);
  assert.deepEqual(auditRows(), [], 'nothing was changed');
});

test('/settings view shows the effective settings and which come from the owner', async () => {
  const view = await ask('settings view');
  assert.ok(view.ephemeral);
  assert.match(view.content, /max steps: 50 \(owner: IMAGINE_MAX_STEPS\)/);
  assert.match(view.content, /max size: 1536 px \(owner: IMAGINE_MAX_SIDE\)/);
  assert.match(view.content, /jobs per user per hour: none \(owner: IMAGINE_MAX_JOBS_PER_HOUR\)/);
  assert.match(view.content, /\/imagine works everywhere/);
  assert.match(view.content, /Provider\*\* local \(owner's default\)/);
  assert.match(view.content, /The cloud provider \(Gemini\) is off: GOOGLE_API_KEY is not set/);
  assert.match(view.content, /flagged images: block \(default\)/);
});

test('model names are autocompleted from the models on disk', async () => {
  const typed = await h.discord.autocomplete('settings model default', { name: 'ti' }, 'name', { user: 'mod' });
  assert.deepEqual(await typed.choices(), [{ name: 'tiny', value: 'tiny' }]);
  const all = await h.discord.autocomplete('settings model deny', { name: '' }, 'name', { user: 'mod' });
  assert.deepEqual(
    (await all.choices()).map((c) => c.value),
    ['broken', 'tiny'],
  );
});

test('every setting is validated, confirmed with its new value, audited, applied to /imagine and kept across a restart', async () => {
  const mod = h.discord.user('mod').id;
  const nsfw = h.discord.channel('nsfw-art').id;
  const changes: [string, SlashOptions, RegExp][] = [
    ['settings model default', { name: 'tiny' }, /✅ Default model: \*\*tiny\*\*/],
    ['settings model deny', { name: 'broken' }, /✅ \*\*broken\*\* is denied on this server/],
    [
      'settings limits',
      { max_steps: 30, max_size: 512, max_images: 2, max_queued: 3, jobs_per_hour: 40, images_per_day: 100, cooldown: 1 },
      /✅ Limits: max steps 30, max size 512 px, max images per job 2, max waiting jobs per user 3, jobs per user per hour 40, images per user per day 100, cooldown 1 s\./,
    ],
    ['settings channels deny', { channel: 'nsfw-art' }, new RegExp(`✅ /imagine is off in <#${nsfw}>`)],
    [
      'settings provider',
      { policy: 'fallback', imagen_daily_cap: 10 },
      /✅ Provider: \*\*fallback\*\* · cloud daily cap: 10\.\nThe cloud provider \(Gemini\) is off: GOOGLE_API_KEY is not set/,
    ],
    ['settings safety block', { phrase: '  Red   Fox ' }, /✅ Prompts containing "red fox" \(whole words, any case\) are refused/],
    ['settings safety flagged', { action: 'blur' }, /✅ Flagged images: \*\*blur\*\*/],
    [
      'settings defaults',
      { negative: 'blurry', steps: 12, guidance: 5, size: '128x128', scheduler: 'euler' },
      /✅ Defaults for \/imagine here: negative "blurry", steps 12, guidance 5, size 128x128, scheduler euler\./,
    ],
  ];
  for (const [command, options, expected] of changes) {
    const answer = await ask(command, options);
    assert.ok(answer.ephemeral, command);
    assert.match(answer.content, expected);
  }

  // Refusals name the limit, change nothing and write no audit row.
  const refusals: [string, SlashOptions, RegExp][] = [
    ['settings limits', { max_steps: 80 }, /max steps 80 is above the owner's ceiling IMAGINE_MAX_STEPS=50/],
    ['settings limits', { max_size: 2048 }, /max size 2048 is above the owner's ceiling IMAGINE_MAX_SIDE=1536/],
    ['settings limits', { max_queued: 9 }, /max waiting jobs per user 9 is above the owner's ceiling MAX_QUEUED_PER_USER=5/],
    ['settings model default', { name: 'broken' }, /broken is not allowed on this server; run `\/settings model allow broken` first/],
    ['settings model allow', { name: 'nope' }, /Model "nope" is not installed\. Installed: broken, tiny\./],
    ['settings defaults', { steps: 40 }, /default steps must be at most 30 \(this server's max steps\)/],
    ['settings defaults', { size: '1024x1024' }, /size "1024x1024" must be square, portrait, landscape, wide, or WxH .* up to 512/],
    ['settings safety block', { phrase: 'red FOX' }, /"red fox" is already blocked/],
  ];
  for (const [command, options, expected] of refusals) assert.match((await ask(command, options)).content, expected, command);

  const rows = auditRows();
  assert.deepEqual(
    rows.map((r) => r.setting),
    ['model.default', 'model.deny', 'limits', 'channels.deny', 'provider', 'safety.blockedWords', 'safety.flagged', 'defaults'],
  );
  assert.ok(rows.every((r) => r.user_id === mod && r.guild_id === h.discord.guild().id && r.at > 0));
  const limits = rows[2];
  assert.deepEqual(JSON.parse(limits.before_json!), {
    maxSteps: null,
    maxSide: null,
    maxCount: null,
    maxQueuedPerUser: null,
    jobsPerHour: null,
    imagesPerDay: null,
    cooldownSeconds: null,
  });
  assert.equal(JSON.parse(limits.after_json!).maxSteps, 30);
  assert.deepEqual(JSON.parse(rows[0].after_json!), 'tiny');

  assert.equal(await bot.stop(), 0);
  bot = await h.startBot(BOT_ENV);

  const view = (await ask('settings view')).content;
  for (const expected of [
    /default: tiny \(set here\) · allowed: tiny · denied: broken/,
    /max steps: 30 \(set here\)/,
    /max size: 512 px \(set here\)/,
    /max images per job: 2 \(set here\)/,
    /max waiting jobs per user: 3 \(set here\)/,
    /jobs per user per hour: 40 \(set here\)/,
    /images per user per day: 100 \(set here\)/,
    /cooldown: 1 s \(set here\)/,
    new RegExp(`works everywhere, not in <#${nsfw}>`),
    /Provider\*\* fallback \(set here\) · cloud daily cap: 10/,
    /blocked words: "red fox"/,
    /flagged images: blur \(set here\)/,
    /Defaults\*\* negative "blurry", steps 12, guidance 5, size 128x128, scheduler euler/,
    /Recent changes/,
  ]) {
    assert.match(view, expected);
  }

  // The settings shape /imagine: its defaults, its limits, its models.
  const run = await h.discord.slash('imagine', { prompt: 'a quiet harbour' });
  await run.ack();
  const result = await resultOf(h.discord, run);
  assert.equal(field(result, 'Steps'), '12');
  assert.equal(field(result, 'Guidance'), '5');
  // The simulated device draws 8×8 whatever is asked; the request's size is in ℹ️.
  const info = await h.discord.clickButton(result, result.buttons.find((b) => b.emoji?.name === 'ℹ️')!.customId!);
  await info.ack();
  assert.match((await info.original())!.content, /\*\*Size\*\* 128×128/);
  assert.equal(field(result, 'Scheduler'), 'euler');
  assert.equal(field(result, 'Model'), 'tiny');
  assert.match(result.embeds[0].description ?? '', /\*\*Negative:\*\* blurry/);

  const refusedImagine = async (options: SlashOptions) => {
    const run = await h.discord.slash('imagine', options, { user: 'alice' });
    await run.ack();
    return refusalOf(run);
  };
  const tooMany = await refusedImagine({ prompt: 'x', steps: 40, count: 3 });
  assert.ok(tooMany.ephemeral);
  assert.match(tooMany.content, /steps\*\* must be between 1 and 30 on this server/);
  assert.match(tooMany.content, /count\*\* must be between 1 and 2 on this server/);
  const denied = await refusedImagine({ prompt: 'x', model: 'broken' });
  assert.match(denied.content, /🚫 Model broken is not allowed on this server; \/models shows the ones that are\./);

  assert.match((await ask('settings reset', { section: 'limits' })).content, /✅ limits is back to the owner's defaults/);
  assert.match((await ask('settings view')).content, /max steps: 50 \(owner: IMAGINE_MAX_STEPS\)/);
  assert.match((await ask('settings reset')).content, /✅ Every setting is back to the owner's defaults/);
  const reset = (await ask('settings view')).content;
  assert.match(reset, /allowed: all/);
  assert.match(reset, /blocked words: none/);
  assert.match(reset, /Defaults\*\* the model's own/);
  assert.deepEqual(
    auditRows()
      .slice(-2)
      .map((r) => r.setting),
    ['reset limits', 'reset'],
  );
});

test('/models lists each model with family, defaults, devices and whether it is allowed here', async () => {
  await ask('settings model deny', { name: 'broken' });
  const m = await ask('models', {}, { user: 'alice' });
  assert.ok(m.ephemeral);
  assert.match(m.content, /• \*\*tiny\*\* \(default\) — sd1 · 256×256, 30 steps · image-to-image · loaded on: noop:0 · ✅ allowed here/);
  assert.match(m.content, /• \*\*broken\*\* — sd1 · .* · loaded on: none · 🚫 not allowed here/);
  await ask('settings reset', { section: 'model' });
});

test('/queue shows your jobs with positions, /cancel cancels yours (or any, for moderators)', async () => {
  const slow = { prompt: 'slow one', steps: 50, size: '64x64' };
  const first = await h.discord.slash('imagine', slow, { user: 'alice' });
  await first.ack();
  await first.waitForOriginal((m) => /Step|Starting/.test(m.content), { timeoutMs: 10_000 });
  const second = await h.discord.slash('imagine', { ...slow, prompt: 'second one' }, { user: 'alice' });
  await second.ack();
  const third = await h.discord.slash('imagine', { ...slow, prompt: 'bobs one' }, { user: 'bob' });
  await third.ack();
  await third.waitForOriginal((m) => /Queued/.test(m.content), { timeoutMs: 10_000 });

  const queue = await ask('queue', {}, { user: 'alice' });
  assert.ok(queue.ephemeral);
  assert.match(queue.content, /`[0-9a-f-]{36}` \*\*slow one\*\* — running on noop:0/);
  // Users take turns: bob's job goes ahead of alice's second one.
  assert.match(queue.content, /`[0-9a-f-]{36}` \*\*second one\*\* — position 2, about [\d.]+ s to wait/);
  assert.doesNotMatch(queue.content, /bobs one/, "other people's prompts are not shown");
  assert.match(queue.content, /\*\*Queue\*\* 2 waiting · noop:0: 1 running, 2 waiting/, 'the one device runs one job and will run both waiting ones');
  const secondId = /`([0-9a-f-]{36})` \*\*second one\*\*/.exec(queue.content)![1];
  const bobsId = /`([0-9a-f-]{36})` \*\*bobs one\*\*/.exec((await ask('queue', {}, { user: 'bob' })).content)![1];

  const offered = await h.discord.autocomplete('cancel', { job: '' }, 'job', { user: 'alice' });
  assert.deepEqual((await offered.choices()).map((c) => c.name).sort(), ['⏳ second one', '▶ slow one']);

  assert.match((await ask('cancel', { job: bobsId }, { user: 'alice' })).content, /Only <@\d+> \(who asked for it\) or a moderator can cancel/);
  assert.match((await ask('cancel', { job: secondId.slice(0, 8) }, { user: 'alice' })).content, /Cancelled job `[0-9a-f-]{36}` \(\*\*second one\*\*\)/);
  assert.match((await second.waitForOriginal((m) => /Cancelled by/.test(m.content), { timeoutMs: 10_000 })).content, /❌ Cancelled by <@\d+>/);
  assert.match((await ask('cancel', { job: bobsId }, { user: 'mod' })).content, /Cancelled job/);
  await resultOf(h.discord, first);
  assert.match((await ask('queue', {}, { user: 'alice' })).content, /You have no jobs waiting or running/);
});

test('/stats shows jobs and images per day, GPU seconds per user and model, failures and cloud usage', async () => {
  const stats = await ask('stats');
  assert.ok(stats.ephemeral);
  const today = new Date(h.discord.clock.now()).toISOString().slice(0, 10);
  assert.match(stats.content, new RegExp(`• ${today}: \\d+ jobs, \\d+ images, 0 failed`));
  assert.match(stats.content, new RegExp(`GPU seconds per user\\*\\* <@${h.discord.user('alice').id}> [\\d.]+ s \\(\\d+ jobs?\\)`));
  assert.match(stats.content, /GPU seconds per model\*\* tiny [\d.]+ s/);
  assert.match(stats.content, /\*\*Failures\*\* 0/);
  assert.match(stats.content, /\*\*Cloud \(Gemini\)\*\* 0 jobs, 0 images; 0 in the last 24 h/);
});
