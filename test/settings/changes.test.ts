// Admin changes: validation against the owner's ceilings (named in the refusal), the allow/deny
// lists, and the merge of server values with the owner's into what applies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyChange, type ChangeContext, type SettingsCommand } from '../../src/settings/changes.js';
import { channelAllowed, effectiveSettings, modelAllowed } from '../../src/settings/effective.js';
import type { GuildSettings } from '../../src/settings/schema.js';
import { owner } from './helpers.js';

const MODELS = ['sd15', 'tiny', 'turbo'];
const A = '300000000000000001';
const B = '300000000000000002';

function apply(current: GuildSettings, cmd: SettingsCommand, o = owner()) {
  const ctx: ChangeContext = { current, owner: o, models: MODELS };
  return applyChange(cmd, ctx);
}

function ok(current: GuildSettings, cmd: SettingsCommand, o = owner()): GuildSettings {
  const r = apply(current, cmd, o);
  assert.ok(r.ok, r.ok ? '' : r.message);
  return r.next;
}

function refusal(current: GuildSettings, cmd: SettingsCommand, o = owner()): string {
  const r = apply(current, cmd, o);
  assert.ok(!r.ok, `expected a refusal of ${JSON.stringify(cmd)}`);
  return r.message;
}

test('limits above the owner ceilings are refused with the variable named; 0 returns to the owner value', () => {
  assert.match(refusal({}, { kind: 'limits', values: { maxSteps: 80 } }), /max steps 80 is above the owner's ceiling IMAGINE_MAX_STEPS=50/);
  assert.match(refusal({}, { kind: 'limits', values: { maxSide: 2048 } }), /max size 2048 is above the owner's ceiling IMAGINE_MAX_SIDE=1024/);
  assert.match(refusal({}, { kind: 'limits', values: { maxSide: 500 } }), /max size 500 must be a multiple of 64/);
  assert.match(
    refusal({}, { kind: 'limits', values: { jobsPerHour: 30 } }, owner({ jobsPerHour: 20 })),
    /jobs per user per hour 30 is above the owner's ceiling IMAGINE_MAX_JOBS_PER_HOUR=20/,
  );
  assert.match(
    refusal({}, { kind: 'limits', values: { cooldownSeconds: 5 } }, owner({ minCooldownSeconds: 10 })),
    /cooldown 5 s is below the owner's minimum IMAGINE_MIN_COOLDOWN_S=10/,
  );
  assert.match(refusal({}, { kind: 'limits', values: { maxCount: -1 } }), /must be 0 \(back to the owner's value\) or more/);
  assert.match(refusal({}, { kind: 'limits', values: {} }), /at least one limit/);

  const set = apply({}, { kind: 'limits', values: { maxSteps: 20, imagesPerDay: 50, cooldownSeconds: 120 } });
  assert.ok(set.ok);
  assert.equal(set.confirm, '✅ Limits: max steps 20, images per user per day 50, cooldown 2 min.');
  assert.deepEqual(set.change, {
    setting: 'limits',
    before: { maxSteps: null, imagesPerDay: null, cooldownSeconds: null },
    after: { maxSteps: 20, imagesPerDay: 50, cooldownSeconds: 120 },
  });
  const cleared = ok(set.next, { kind: 'limits', values: { maxSteps: 0 } });
  assert.deepEqual(cleared.limits, { imagesPerDay: 50, cooldownSeconds: 120 });
  const e = effectiveSettings(cleared, owner());
  assert.deepEqual(e.limits.maxSteps, { value: 50, source: 'owner' });
  assert.deepEqual(e.limits.imagesPerDay, { value: 50, source: 'server' });
});

test('the effective value never exceeds a ceiling the owner lowered later', () => {
  const stored: GuildSettings = { limits: { maxSteps: 40, jobsPerHour: 30, cooldownSeconds: 5 } };
  const e = effectiveSettings(stored, owner({ maxSteps: 25, jobsPerHour: 10, minCooldownSeconds: 60 }));
  assert.deepEqual(e.limits.maxSteps, { value: 25, source: 'owner' });
  assert.deepEqual(e.limits.jobsPerHour, { value: 10, source: 'owner' });
  assert.deepEqual(e.limits.cooldownSeconds, { value: 60, source: 'owner' });
  // A stored default beyond the new limit is dropped rather than applied.
  assert.deepEqual(effectiveSettings({ defaults: { steps: 40, scheduler: 'euler' } }, owner({ maxSteps: 25 })).defaults, { scheduler: 'euler' });
});

test('model allow and deny: deny blocks, allow undoes a deny or starts an allow list', () => {
  let s = ok({}, { kind: 'model-deny', name: 'turbo' });
  let e = effectiveSettings(s, owner());
  assert.deepEqual(
    MODELS.filter((m) => modelAllowed(e, m)),
    ['sd15', 'tiny'],
  );
  const undo = apply(s, { kind: 'model-allow', name: 'turbo' });
  assert.ok(undo.ok);
  assert.equal(undo.confirm, '✅ **turbo** is allowed again.');
  assert.deepEqual(
    MODELS.filter((m) => modelAllowed(effectiveSettings(undo.next, owner()), m)),
    MODELS,
  );

  s = ok({}, { kind: 'model-allow', name: 'tiny' });
  e = effectiveSettings(s, owner());
  assert.deepEqual(
    MODELS.filter((m) => modelAllowed(e, m)),
    ['tiny'],
  );
  assert.match(refusal(s, { kind: 'model-default', name: 'sd15' }), /sd15 is not allowed on this server; run `\/settings model allow sd15` first/);
  s = ok(s, { kind: 'model-default', name: 'tiny' });
  assert.match(refusal(s, { kind: 'model-deny', name: 'tiny' }), /tiny is this server's default model/);
  assert.match(refusal(s, { kind: 'model-allow', name: 'nope' }), /Model "nope" is not installed\. Installed: sd15, tiny, turbo\./);
});

test('channels: all by default, deny one, or allow only some', () => {
  assert.ok(channelAllowed(effectiveSettings({}, owner()), A));
  const denied = ok({}, { kind: 'channel-deny', channelId: A });
  assert.ok(!channelAllowed(effectiveSettings(denied, owner()), A));
  assert.ok(channelAllowed(effectiveSettings(denied, owner()), B));
  const only = ok({}, { kind: 'channel-allow', channelId: B });
  assert.ok(!channelAllowed(effectiveSettings(only, owner()), A));
  assert.ok(channelAllowed(effectiveSettings(only, owner()), B));
});

test('provider and cloud cap; the old policy name imagen reads as cloud; the confirmation says when the cloud is off and why', () => {
  const r = apply({}, { kind: 'provider', policy: 'imagen', imagenDailyCap: 25 });
  assert.ok(r.ok);
  assert.match(r.confirm, /Provider: \*\*cloud\*\* · cloud daily cap: 25\.\nThe cloud provider \(Gemini\) is off: GOOGLE_API_KEY is not set/);
  const on = apply({}, { kind: 'provider', policy: 'fallback' }, owner({}, { imagenConfigured: true }));
  assert.ok(on.ok);
  assert.doesNotMatch(on.confirm, /is off/);
  assert.match(refusal({}, { kind: 'provider', policy: 'gpu' }), /policy must be one of local, fallback, cloud/);
  assert.deepEqual(ok(r.next, { kind: 'provider', imagenDailyCap: 0 }).provider, { policy: 'cloud' });
  assert.deepEqual(ok({}, { kind: 'provider', policy: 'Cloud' }).provider, { policy: 'cloud' });
});

test('safety: phrases are normalised, de-duplicated and removable; flagged takes block, blur or allow', () => {
  const s = ok({}, { kind: 'safety-block', phrase: '  Red\tFOX ' });
  assert.deepEqual(s.safety?.blockedWords, ['red fox']);
  assert.match(refusal(s, { kind: 'safety-block', phrase: 'red fox' }), /"red fox" is already blocked/);
  assert.match(refusal(s, { kind: 'safety-unblock', phrase: 'blue fox' }), /"blue fox" is not blocked/);
  assert.deepEqual(ok(s, { kind: 'safety-unblock', phrase: 'RED fox' }).safety?.blockedWords, []);
  assert.equal(effectiveSettings({}, owner()).safety.flagged.value, 'block', 'flagged images are blocked by default');
  assert.equal(ok(s, { kind: 'safety-flagged', action: 'allow' }).safety?.flagged, 'allow');
  assert.match(refusal(s, { kind: 'safety-flagged', action: 'hide' }), /flagged must be one of block, blur, allow/);
});

test('defaults are checked against the limits in force', () => {
  const limited = ok({}, { kind: 'limits', values: { maxSteps: 20, maxSide: 512 } });
  assert.match(refusal(limited, { kind: 'defaults', values: { steps: 30 } }), /default steps must be at most 20 \(this server's max steps\)/);
  assert.match(refusal(limited, { kind: 'defaults', values: { size: '768x768' } }), /size "768x768" must be .* up to 512/);
  assert.match(refusal(limited, { kind: 'defaults', values: { guidance: 25 } }), /at most 20 \(the owner's ceiling IMAGINE_MAX_GUIDANCE\)/);
  const d = ok(limited, { kind: 'defaults', values: { size: ' 256 X 384 ', steps: 8, negativePrompt: 'blurry', scheduler: 'lcm' } });
  assert.deepEqual(d.defaults, { size: '256x384', steps: 8, negativePrompt: 'blurry', scheduler: 'lcm' });
  // SD3's own scheduler is no server default: SD3 models always use it, diffusion models cannot.
  const flow = refusal(limited, { kind: 'defaults', values: { scheduler: 'flow_match_euler' } });
  assert.match(flow, /scheduler must be one of .*unipc, lcm/);
  assert.doesNotMatch(flow, /flow_match_euler/);
});

test('reset clears one section or everything', () => {
  const s = ok(ok({}, { kind: 'limits', values: { maxSteps: 10 } }), { kind: 'channel-deny', channelId: A });
  const r = apply(s, { kind: 'reset', section: 'limits' });
  assert.ok(r.ok);
  assert.deepEqual(r.next, { channels: { allow: [], deny: [A] } });
  assert.deepEqual(r.change, { setting: 'reset limits', before: { maxSteps: 10 }, after: null });
  assert.deepEqual(ok(s, { kind: 'reset' }), {});
  assert.match(refusal(s, { kind: 'reset', section: 'colours' }), /no section "colours"/);
});
