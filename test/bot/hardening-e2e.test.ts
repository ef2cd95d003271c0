// Issue 14's "nobody let in" promises, against the real bot process and the Discord stand-in:
// echoed prompts are inert Markdown, attachments are checked cheaply in the bot and decoded in
// the worker, DATA_DIR is private, workers never see the bot's secrets, /metrics listens on
// loopback only, and no log line carries a token.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import sharp from 'sharp';
import type { APIEmbed } from 'discord.js';
import { isResult, refusalOf, resultOf, startHarness, type BotProcess, type Harness } from './harness.js';
import type { ViewMessage, ViewMessageVersion } from '../support/discord/index.js';

const SECRET = 'not-for-workers-0123456789';
const FAKE_GOOGLE_KEY = `AIza${'x'.repeat(35)}`;
let h: Harness;
let bot: BotProcess;
let metricsPort: number;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const { port } = server.address() as { port: number };
  await new Promise((res) => server.close(res));
  return port;
}

before(async () => {
  h = await startHarness();
  metricsPort = await freePort();
  bot = await h.startBot({
    METRICS_PORT: String(metricsPort),
    LOG_LEVEL: 'debug',
    UNRELATED_SECRET: SECRET,
    // Imagen stays unused (IMAGE_PROVIDER is local); the key is here to prove workers never get it.
    GOOGLE_API_KEY: FAKE_GOOGLE_KEY,
    GOOGLE_API_BASE_URL: 'http://127.0.0.1:9',
    PROGRESS_EDIT_INTERVAL_MS: '200',
  });
});

after(async () => {
  await h.close();
});

function allText(m: ViewMessage): string[] {
  const texts = (v: ViewMessageVersion) => [
    v.content,
    ...v.embeds.flatMap((e) => {
      const embed = e as APIEmbed;
      return [embed.title ?? '', embed.description ?? '', ...(embed.fields ?? []).flatMap((f) => [f.name, f.value])];
    }),
  ];
  return m.history.flatMap(texts);
}

/** Text that shows the hostile prompt only as typed characters. */
function assertInert(text: string): void {
  assert.doesNotMatch(text, /(?<!\\)\[click\]/, `a masked link survived: ${text}`);
  assert.doesNotMatch(text, /(?<!\\)<@999999999999999999>/, `a mention survived: ${text}`);
  assert.doesNotMatch(text, /(^|\n)#+ /, `a heading survived: ${text}`);
  assert.doesNotMatch(text, /@everyone/, `@everyone survived: ${text}`);
  assert.doesNotMatch(text, /https:\/\/evil/, `a clickable URL survived: ${text}`);
  assert.doesNotMatch(text, /\n[#\\ ]*second line/, `the prompt’s newline starts a line of its own: ${text}`);
}

test('an echoed prompt shows no link, heading, mention or new line, in contents, embed and ℹ️', async () => {
  const prompt = '# Free [click](https://evil.example/x) <@999999999999999999> @everyone\n## second line';
  const run = await h.discord.slash('imagine', { prompt, negative: '[neg](https://evil.example/n)', steps: 2, size: '64x64', count: 1 });
  await run.ack();
  const result = await resultOf(h.discord, run);
  const original = run.original()!;
  const texts = [...allText(original), ...allText(result)];
  for (const t of texts) assertInert(t);
  assert.ok(
    texts.some((t) => t.includes('\\[click\\]')),
    'the link text is still there, escaped',
  );
  assert.ok(
    texts.every((t) => !/(?<!\\)\[neg\]/.test(t)),
    'the negative prompt is escaped too',
  );
  // No line of any version begins with user text that could be a heading.
  for (const t of texts) for (const line of t.split('\n')) assert.doesNotMatch(line, /^#/);
  const info = result.buttons.find((b) => b.emoji?.name === 'ℹ️');
  const click = await h.discord.clickButton(result, info!.customId!);
  await click.ack();
  const shown = await click.waitForOriginal((m) => /Prompt/.test(m.content) || /Prompt/.test(JSON.stringify(m.embeds)));
  for (const t of allText(shown)) {
    const beforeCode = t.split('```')[0];
    assertInert(beforeCode);
  }
});

test('an attachment that is no image is refused by the bot, before any job exists', async () => {
  const run = await h.discord.slash('imagine', {
    prompt: 'from text',
    size: '64x64',
    steps: 2,
    image: { filename: 'notes.png', bytes: Buffer.from('just some text, not a picture at all'), contentType: 'image/png' },
  });
  await run.ack();
  const m = await refusalOf(run, 20_000);
  assert.ok(m.ephemeral, 'only the requester sees it');
  assert.match(m.content, /⚠️ The attached file is not a PNG, JPEG or WebP image\./);
  assert.doesNotMatch(m.content, /job `/, 'no job was queued');
});

test('an image that only looks like a PNG is decoded in the worker, and the job fails with a sentence', async () => {
  const fake = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(200, 7)]);
  const run = await h.discord.slash('imagine', {
    prompt: 'from a broken png',
    size: '64x64',
    steps: 2,
    image: { filename: 'broken.png', bytes: fake, contentType: 'image/png' },
  });
  await run.ack();
  const m = await run.waitForOriginal((x) => /Generation failed/.test(x.content), { timeoutMs: 30_000 });
  assert.match(m.content, /⚠️ Generation failed \(job `[0-9a-f-]{36}`\): The input image could not be read \(.+\)\. Use a PNG, JPEG or WebP file\./);
  assert.equal(bot.child.exitCode, null, 'the bot is still running');
});

test('an attached real image still works (the stand-in’s origin is DISCORD_API_URL’s)', async () => {
  const input = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 40, b: 40 } } })
    .png()
    .toBuffer();
  const run = await h.discord.slash('imagine', { prompt: 'repaint', size: '64x64', steps: 4, strength: 0.3, image: { filename: 'in.png', bytes: input } });
  await run.ack();
  const m = await resultOf(h.discord, run);
  assert.ok(isResult(m));
});

/** Pids of the processes whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        // comm may contain spaces and parentheses: the ppid is the 2nd field after the last ')'.
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function environOf(pid: number): Map<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return new Map(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

test('worker processes get an allowlisted environment: no DISCORD_TOKEN, GOOGLE_API_KEY or other secrets', () => {
  // Only the device workers (tsx's esbuild service is a child too, and no worker).
  const workers = childrenOf(bot.child.pid!).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker-process'));
  assert.ok(workers.length >= 1, 'the bot has a worker process');
  assert.equal(environOf(bot.child.pid!).get('DISCORD_TOKEN'), h.discord.token, 'the bot itself has the token (the check can fail)');
  for (const pid of workers) {
    const env = environOf(pid);
    for (const name of ['DISCORD_TOKEN', 'GOOGLE_API_KEY', 'UNRELATED_SECRET']) assert.equal(env.has(name), false, `worker ${pid} sees ${name}`);
    assert.ok(env.has('PATH'), 'the worker has PATH');
    assert.equal(env.get('MODELS_DIR'), h.modelsDir, 'the worker has the engine settings');
    const all = [...env.values()].join('\n');
    assert.ok(!all.includes(h.discord.token) && !all.includes(SECRET) && !all.includes(FAKE_GOOGLE_KEY), 'no secret value under another name');
  }
});

test('DATA_DIR is private: folders 0700, files 0600 (database, WAL, inputs, outputs, command hash)', () => {
  const seen: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = statSync(path);
      const mode = st.mode & 0o777;
      seen.push(path.slice(h.dataDir.length + 1));
      if (st.isDirectory()) {
        assert.equal(mode.toString(8), '700', `${path} is a folder with mode ${mode.toString(8)}`);
        walk(path);
      } else {
        assert.equal(mode.toString(8), '600', `${path} has mode ${mode.toString(8)}`);
      }
    }
  };
  assert.equal((statSync(h.dataDir).mode & 0o777).toString(8), '700', 'DATA_DIR itself');
  walk(h.dataDir);
  for (const expected of ['bot.sqlite', 'bot.sqlite-wal', 'commands.hash', 'outputs', 'inputs'])
    assert.ok(seen.includes(expected), `checked ${expected} (saw ${seen.join(', ')})`);
  assert.ok(
    seen.some((p) => /^outputs\/.+\/0\.png$/.test(p)),
    'checked an output image',
  );
  assert.ok(
    seen.some((p) => /^inputs\/.+/.test(p)),
    'checked an input image',
  );
});

function get(host: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port: metricsPort, path, timeout: 3000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test('/metrics and /healthz listen on 127.0.0.1 only by default', async () => {
  assert.equal(await get('127.0.0.1', '/healthz'), 200);
  assert.equal(await get('127.0.0.1', '/metrics'), 200);
  // Linux answers all of 127/8 locally: a server on 0.0.0.0 would answer here too.
  await assert.rejects(get('127.0.0.2', '/healthz'), /ECONNREFUSED/);
});

test('no log line carries the bot token, an interaction token or the Google key, a refused webhook call included', async () => {
  // Discord's clock jumps past the token's 15 minutes while a job runs: the bot's webhook calls
  // now fail (401, 50027) and it logs them, URL and all, before it falls back to the channel.
  const run = await h.discord.slash('imagine', { prompt: 'late', steps: 40, size: '128x128', count: 2 });
  await run.ack();
  h.discord.clock.advance(15 * 60_000 + 1000);
  await resultOf(h.discord, run, 60_000);
  assert.ok(
    h.discord.requestsTo('PATCH /webhooks/*').some((r) => r.path.includes(run.token) && r.status === 401),
    'the bot used the dead token at least once',
  );
  const log = bot.log;
  assert.ok(log.length > 0, 'the bot logged (LOG_LEVEL=debug)');
  const tokens = h.discord.interactions().map((i) => i.token);
  assert.ok(tokens.includes(run.token));
  for (const secret of [h.discord.token, FAKE_GOOGLE_KEY, ...tokens]) assert.ok(!log.includes(secret), `the log holds a secret: …${secret.slice(-12)}`);
});
