// downloadAttachment against real HTTP servers on loopback: which URLs it fetches at all, how it
// treats redirects, and that a huge or endless body is cut off at the cap and the time limit.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { attachmentOrigins, DISCORD_ATTACHMENT_ORIGINS, downloadAttachment, DownloadError, imageTypeOf } from '../../src/bot/download.js';

interface Site {
  server: Server;
  origin: string;
  hits: string[];
  /** Bytes written to bodies so far. */
  sent: number;
}

async function site(handler: (req: IncomingMessage, res: ServerResponse, s: Site) => void): Promise<Site> {
  const s: Site = {
    server: createServer((req, res) => {
      s.hits.push(req.url ?? '');
      handler(req, res, s);
    }),
    origin: '',
    hits: [],
    sent: 0,
  };
  await new Promise<void>((res) => s.server.listen(0, '127.0.0.1', () => res()));
  s.origin = `http://127.0.0.1:${(s.server.address() as { port: number }).port}`;
  return s;
}

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
let cdn: Site;
let elsewhere: Site;

before(async () => {
  elsewhere = await site((_req, res) => res.end(PNG));
  cdn = await site((req, res, s) => {
    if (req.url === '/ok.png') return void res.end(PNG);
    if (req.url === '/hop') return void res.writeHead(302, { location: '/ok.png' }).end();
    if (req.url === '/away') return void res.writeHead(302, { location: `${elsewhere.origin}/x.png` }).end();
    if (req.url === '/to-data') return void res.writeHead(307, { location: 'data:image/png;base64,iVBORw0KGgo=' }).end();
    if (req.url === '/loop') return void res.writeHead(302, { location: '/loop' }).end();
    if (req.url === '/missing') return void res.writeHead(404).end();
    if (req.url === '/declared-huge') return void res.writeHead(200, { 'content-length': String(50 * 1024 * 1024) }).end();
    if (req.url === '/endless' || req.url === '/drip') {
      // No Content-Length: chunked, as long as the client reads.
      res.writeHead(200, { 'content-type': 'image/png' });
      const chunk = Buffer.alloc(req.url === '/endless' ? 64 * 1024 : 1, 1);
      const timer = setInterval(
        () => {
          if (res.destroyed) return clearInterval(timer);
          s.sent += chunk.length;
          res.write(chunk);
        },
        req.url === '/endless' ? 1 : 100,
      );
      res.on('close', () => clearInterval(timer));
      return;
    }
    res.writeHead(500).end();
  });
});

after(async () => {
  cdn.server.closeAllConnections();
  elsewhere.server.closeAllConnections();
  await Promise.all([new Promise((r) => cdn.server.close(r)), new Promise((r) => elsewhere.server.close(r))]);
});

const allowCdn = () => ({ allowedOrigins: [cdn.origin] });

test('only Discord’s attachment hosts by default, https only; DISCORD_API_URL’s origin when set', () => {
  assert.deepEqual(DISCORD_ATTACHMENT_ORIGINS, ['https://cdn.discordapp.com', 'https://media.discordapp.net']);
  assert.deepEqual(attachmentOrigins(), ['https://cdn.discordapp.com', 'https://media.discordapp.net']);
  assert.deepEqual(attachmentOrigins('http://127.0.0.1:5555/api'), ['https://cdn.discordapp.com', 'https://media.discordapp.net', 'http://127.0.0.1:5555']);
});

test('URLs outside the allowed origins are refused without a request: other hosts, http, data:', async () => {
  const before = elsewhere.hits.length;
  await assert.rejects(
    downloadAttachment(`${elsewhere.origin}/x.png`, allowCdn()),
    (e: Error) => e instanceof DownloadError && /Discord attachment/.test(e.message),
  );
  await assert.rejects(downloadAttachment(`${elsewhere.origin}/x.png`), DownloadError, 'not allowed by default');
  await assert.rejects(downloadAttachment('http://cdn.discordapp.com/attachments/1/2/x.png'), /https/);
  await assert.rejects(
    downloadAttachment('data:image/png;base64,iVBORw0KGgo=', allowCdn()),
    (e: Error) => e instanceof DownloadError && /https/.test(e.message),
  );
  await assert.rejects(downloadAttachment('file:///etc/passwd', allowCdn()), DownloadError);
  await assert.rejects(downloadAttachment('not a url', allowCdn()), /not a valid URL/);
  assert.equal(elsewhere.hits.length, before, 'nothing was fetched');
});

test('an allowed origin downloads, and follows a redirect that stays allowed', async () => {
  assert.deepEqual(Buffer.from(await downloadAttachment(`${cdn.origin}/ok.png`, allowCdn())), PNG);
  assert.deepEqual(Buffer.from(await downloadAttachment(`${cdn.origin}/hop`, allowCdn())), PNG);
});

test('a redirect to another host or to a data: URL is refused at that hop, and loops end', async () => {
  const before = elsewhere.hits.length;
  await assert.rejects(downloadAttachment(`${cdn.origin}/away`, allowCdn()), /Discord attachment/);
  assert.equal(elsewhere.hits.length, before, 'the other host was never asked');
  await assert.rejects(downloadAttachment(`${cdn.origin}/to-data`, allowCdn()), /https/);
  await assert.rejects(downloadAttachment(`${cdn.origin}/loop`, allowCdn()), /too many redirects/);
  await assert.rejects(downloadAttachment(`${cdn.origin}/missing`, allowCdn()), /HTTP 404/);
});

test('a declared size over the cap is refused before the body', async () => {
  await assert.rejects(downloadAttachment(`${cdn.origin}/declared-huge`, { ...allowCdn(), maxBytes: 1024 * 1024 }), /larger than 1 MiB/);
});

test('a body without Content-Length stops at the byte cap instead of being read whole', async () => {
  cdn.sent = 0;
  const maxBytes = 2 * 1024 * 1024;
  const memBefore = process.memoryUsage().rss;
  await assert.rejects(downloadAttachment(`${cdn.origin}/endless`, { ...allowCdn(), maxBytes, timeoutMs: 60_000 }), /larger than 2 MiB/);
  // The server keeps writing until the socket closes; what it managed is near the cap, not endless.
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(cdn.sent < maxBytes + 16 * 1024 * 1024, `sent ${cdn.sent} bytes`);
  assert.ok(process.memoryUsage().rss - memBefore < 64 * 1024 * 1024, 'memory stayed small');
});

test('one time limit covers the whole download, a trickling body included', async () => {
  const started = Date.now();
  await assert.rejects(downloadAttachment(`${cdn.origin}/drip`, { ...allowCdn(), timeoutMs: 600 }), /took longer than 1 s/);
  assert.ok(Date.now() - started < 3000, `gave up after ${Date.now() - started} ms`);
});

test('imageTypeOf looks at magic bytes only', () => {
  assert.equal(imageTypeOf(PNG), 'png');
  assert.equal(imageTypeOf(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0])), 'jpeg');
  assert.equal(imageTypeOf(Buffer.from('RIFF\0\0\0\0WEBPVP8 ', 'latin1')), 'webp');
  assert.equal(imageTypeOf(Buffer.from('GIF89a.....')), undefined);
  assert.equal(imageTypeOf(Buffer.from('hello')), undefined);
  assert.equal(imageTypeOf(new Uint8Array()), undefined);
});
