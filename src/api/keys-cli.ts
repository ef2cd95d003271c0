// `npm run keys -- create NAME [--images-per-day N] [--jobs-per-hour N] [--max-steps N]
// [--max-side N] [--max-images N] [--rate-per-min N] [--admin]`, `keys list`, `keys revoke NAME`.
// Keys live hashed in DATA_DIR/bot.sqlite; a new key is printed once.
import '../config/load-env.js';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadEnv } from '../config/env.js';
import { ApiKeyStore, type ApiKeyLimits } from '../store/api-keys.js';
import { openDatabase } from '../store/db.js';

const USAGE = `usage: npm run keys -- create NAME [--images-per-day N] [--jobs-per-hour N] [--max-steps N] [--max-side N] [--max-images N] [--rate-per-min N] [--admin]
       npm run keys -- list
       npm run keys -- revoke NAME`;

const positive = (flag: string) =>
  z.coerce
    .number({ error: `${flag} must be a number` })
    .int(`${flag} must be a whole number`)
    .min(1, `${flag} must be at least 1`)
    .optional();
const limitsSchema = z.object({
  'images-per-day': positive('--images-per-day'),
  'jobs-per-hour': positive('--jobs-per-hour'),
  'max-steps': positive('--max-steps'),
  'max-side': positive('--max-side'),
  'max-images': positive('--max-images'),
  'rate-per-min': positive('--rate-per-min'),
});

function fail(message: string): never {
  process.stderr.write(`keys: ${message}\n`);
  process.exit(1);
}

const OPTIONS = {
  'images-per-day': { type: 'string' },
  'jobs-per-hour': { type: 'string' },
  'max-steps': { type: 'string' },
  'max-side': { type: 'string' },
  'max-images': { type: 'string' },
  'rate-per-min': { type: 'string' },
  admin: { type: 'boolean' },
} as const;

function parse() {
  try {
    return parseArgs({ allowPositionals: true, options: OPTIONS });
  } catch (err) {
    return fail(`${(err as Error).message}\n${USAGE}`);
  }
}

function main(): void {
  const parsed = parse();
  const [command, name, ...rest] = parsed.positionals;
  if (rest.length) fail(`unexpected ${rest.join(' ')}\n${USAGE}`);
  const db = openDatabase(loadEnv().DATA_DIR);
  const keys = new ApiKeyStore(db);
  try {
    if (command === 'create') {
      if (!name || !/^[\w.-]{1,64}$/.test(name)) fail(`a key needs a NAME of letters, digits, _ . - (at most 64)\n${USAGE}`);
      if (keys.exists(name)) fail(`a key named ${name} exists already (revoked keys keep their name, so their jobs stay theirs)`);
      const l = limitsSchema.safeParse(parsed.values);
      if (!l.success) fail(l.error.issues.map((i) => i.message).join('; '));
      const v = l.data;
      const limits: ApiKeyLimits = {
        ...(v['images-per-day'] ? { imagesPerDay: v['images-per-day'] } : {}),
        ...(v['jobs-per-hour'] ? { jobsPerHour: v['jobs-per-hour'] } : {}),
        ...(v['max-steps'] ? { maxSteps: v['max-steps'] } : {}),
        ...(v['max-side'] ? { maxSide: v['max-side'] } : {}),
        ...(v['max-images'] ? { maxImages: v['max-images'] } : {}),
        ...(v['rate-per-min'] ? { ratePerMinute: v['rate-per-min'] } : {}),
      };
      const key = keys.create(name, limits, { admin: parsed.values.admin === true });
      process.stdout.write(`${key}\n`);
      process.stderr.write(`key ${name} created${parsed.values.admin ? ' (admin)' : ''}: this is the only time it is shown.\n`);
    } else if (command === 'list') {
      for (const k of keys.list()) {
        const limits = Object.entries(k.limits).map(([key, value]) => `${key}=${value}`);
        const state = k.revokedAt ? `revoked ${new Date(k.revokedAt).toISOString()}` : 'active';
        const used = k.lastUsedAt ? `last used ${new Date(k.lastUsedAt).toISOString()}` : 'never used';
        process.stdout.write(`${k.name}\t${state}\t${k.admin ? 'admin\t' : ''}${limits.join(' ') || 'owner limits'}\t${used}\n`);
      }
    } else if (command === 'revoke') {
      if (!name) fail(`revoke needs the key's NAME\n${USAGE}`);
      if (!keys.revoke(name)) fail(`no active key named ${name}`);
      process.stdout.write(`key ${name} revoked\n`);
    } else {
      fail(USAGE);
    }
  } finally {
    db.close();
  }
}

main();
