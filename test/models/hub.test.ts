// The hub downloader against a local stand-in hub: through pullModel and through the real CLI
// (`node --import tsx src/cli/models.ts`), including interrupted, corrupt and refused pulls.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HubError, pullModel, type PullEvent } from '../../src/models/hub.js';
import { startFakeHub, type FakeHub, type HubRepoDef } from '../support/hf-hub-server.js';
import { isolated, entryArgs } from '../support/child-process.js';

const modelIndex = JSON.stringify({
  _class_name: 'OnnxStableDiffusionPipeline',
  _diffusers_version: '0.30.0',
  scheduler: ['diffusers', 'EulerDiscreteScheduler'],
  text_encoder: ['diffusers', 'OnnxRuntimeModel'],
  tokenizer: ['transformers', 'CLIPTokenizer'],
  unet: ['diffusers', 'OnnxRuntimeModel'],
  vae_decoder: ['diffusers', 'OnnxRuntimeModel'],
});

/** A small but complete-looking ONNX repo, plus files a pull must leave behind. */
function onnxRepo(id: string): HubRepoDef & { files: Record<string, Buffer | string> } {
  return {
    id,
    revisions: ['main', 'fp16'],
    files: {
      '.gitattributes': '*.onnx filter=lfs diff=lfs merge=lfs -text\n',
      'README.md': '# test model\n',
      'model_index.json': modelIndex,
      'scheduler/scheduler_config.json': JSON.stringify({ _class_name: 'EulerDiscreteScheduler', prediction_type: 'epsilon' }),
      'tokenizer/vocab.json': JSON.stringify({ a: 0, b: 1 }),
      'tokenizer/merges.txt': '#version: 0.2\na b\n',
      'tokenizer/tokenizer_config.json': '{}',
      'tokenizer/special_tokens_map.json': '{}',
      'text_encoder/model.onnx': randomBytes(40_000),
      'unet/config.json': JSON.stringify({ sample_size: 64 }),
      'unet/model.onnx': randomBytes(20_000),
      'unet/model.onnx_data': randomBytes(300_000),
      'unet/diffusion_pytorch_model.safetensors': randomBytes(1_000),
      'vae_decoder/model.onnx': randomBytes(30_000),
    },
  };
}

const PULLED = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'text_encoder/model.onnx',
  'tokenizer/merges.txt',
  'tokenizer/special_tokens_map.json',
  'tokenizer/tokenizer_config.json',
  'tokenizer/vocab.json',
  'unet/config.json',
  'unet/model.onnx',
  'unet/model.onnx_data',
  'vae_decoder/model.onnx',
];

const repoA = onnxRepo('acme/tiny-sd-onnx');
const pytorchRepo: HubRepoDef = {
  id: 'acme/tiny-sd-pytorch',
  files: {
    'model_index.json': modelIndex,
    'unet/config.json': '{}',
    'unet/diffusion_pytorch_model.safetensors': randomBytes(2_000),
  },
};
const privateRepo: HubRepoDef = { ...onnxRepo('acme/private-sd'), token: 'hf_secret' };
const gatedRepo: HubRepoDef = { ...onnxRepo('acme/gated-sd'), gated: true };
const evilRepo: HubRepoDef = { id: 'acme/evil', files: { 'unet/model.onnx': randomBytes(10), '../escape.txt': 'x' } };

let hub: FakeHub;
let work: string;

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)).split('\\').join('/'));
  }
  return out.sort();
}

async function assertSameBytes(dest: string, files: Record<string, Buffer | string>, paths: string[]): Promise<void> {
  for (const p of paths) {
    const expected = Buffer.isBuffer(files[p]) ? files[p] : Buffer.from(files[p] as string);
    assert.deepEqual(await readFile(join(dest, p)), expected, `${p} differs`);
  }
}

function downloadsOf(file: string): { range?: string; kind: string }[] {
  return hub.requests.filter((r) => r.file === file && (r.kind === 'cdn' || r.kind === 'cache')).map((r) => ({ range: r.headers.range, kind: r.kind }));
}

const fast = { retryDelayMs: 5 };

before(async () => {
  hub = await startFakeHub([repoA, pytorchRepo, privateRepo, gatedRepo, evilRepo]);
  work = await mkdtemp(join(tmpdir(), 'hub-test-'));
});

after(async () => {
  await hub.close();
  await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  hub.requests.length = 0;
  hub.clearFaults();
});

describe('pullModel', () => {
  test('downloads exactly the ONNX pipeline files with the right bytes, via the CDN redirect', async () => {
    const dest = join(work, 'full');
    const progress: { file: string; received: number; total: number }[] = [];
    const result = await pullModel(repoA.id, { dest, endpoint: hub.endpoint, onProgress: (p) => progress.push(p), ...fast });

    assert.deepEqual([...result.files].sort(), PULLED);
    assert.deepEqual(await listFiles(dest), PULLED, 'no README, safetensors, .gitattributes or .part files');
    await assertSameBytes(dest, repoA.files, PULLED);
    const expectedBytes = PULLED.reduce((n, p) => n + Buffer.byteLength(repoA.files[p]), 0);
    assert.equal(result.bytes, expectedBytes);
    assert.equal(result.downloadedBytes, expectedBytes);

    // LFS files came from the CDN after a 302, small files from resolve-cache after a 307.
    assert.deepEqual(downloadsOf('unet/model.onnx_data'), [{ range: undefined, kind: 'cdn' }]);
    assert.deepEqual(downloadsOf('model_index.json'), [{ range: undefined, kind: 'cache' }]);
    // Every resolve used the commit the listing reported, so all files come from one snapshot.
    const commit = hub.commitOf(repoA.id);
    for (const r of hub.requests.filter((q) => q.kind === 'resolve')) assert.match(r.url, new RegExp(`/resolve/${commit}/`));
    assert.match(hub.requests[0].url, /^\/api\/models\/acme\/tiny-sd-onnx\/revision\/main\?blobs=true$/);

    const last = progress.filter((p) => p.file === 'unet/model.onnx_data').at(-1);
    assert.deepEqual(last, { file: 'unet/model.onnx_data', received: 300_000, total: 300_000 });
  });

  test('a second pull verifies what is there and downloads nothing', async () => {
    const dest = join(work, 'full');
    const events: PullEvent[] = [];
    const result = await pullModel(repoA.id, { dest, endpoint: hub.endpoint, onEvent: (e) => events.push(e), ...fast });
    assert.equal(result.downloadedBytes, 0);
    assert.equal(hub.requests.filter((r) => r.kind !== 'listing').length, 0);
    assert.equal(events.filter((e) => e.type === 'skip').length, PULLED.length);
  });

  test('a file changed on disk is fetched again', async () => {
    const dest = join(work, 'full');
    await writeFile(join(dest, 'vae_decoder/model.onnx'), randomBytes(30_000)); // same size, wrong bytes
    const result = await pullModel(repoA.id, { dest, endpoint: hub.endpoint, ...fast });
    assert.equal(result.downloadedBytes, 30_000);
    await assertSameBytes(dest, repoA.files, ['vae_decoder/model.onnx']);
  });

  test('a connection dropped mid-file is retried with a Range request and the file is correct', async () => {
    const dest = join(work, 'dropped');
    hub.injectFault(repoA.id, 'unet/model.onnx_data', { kind: 'drop', afterBytes: 100_000 });
    const events: PullEvent[] = [];
    await pullModel(repoA.id, { dest, endpoint: hub.endpoint, onEvent: (e) => events.push(e), ...fast });

    const tries = downloadsOf('unet/model.onnx_data');
    assert.equal(tries.length, 2);
    assert.equal(tries[0].range, undefined);
    const m = /^bytes=(\d+)-$/.exec(tries[1].range ?? '');
    assert.ok(m, `second request should carry a Range header, got ${tries[1].range}`);
    assert.ok(Number(m[1]) > 0 && Number(m[1]) <= 100_000, `resumed at ${m[1]}`);
    assert.ok(events.some((e) => e.type === 'retry' && e.file === 'unet/model.onnx_data'));
    await assertSameBytes(dest, repoA.files, PULLED);
    assert.deepEqual(await listFiles(dest), PULLED);
  });

  test('drops that still move the download forward do not use up the retries', async () => {
    const dest = join(work, 'flaky-line');
    const file = 'unet/model.onnx_data';
    hub.injectFault(repoA.id, file, { kind: 'drop', afterBytes: 60_000 }, 4);
    await pullModel(repoA.id, { dest, endpoint: hub.endpoint, include: [file], attempts: 2, ...fast });
    const ranges = downloadsOf(file).map((d) => d.range);
    assert.equal(ranges.length, 5, 'four cut connections and a good one, with attempts: 2');
    assert.equal(ranges[0], undefined);
    for (const r of ranges.slice(1)) assert.match(r ?? '', /^bytes=[1-9]\d*-$/);
    await assertSameBytes(dest, repoA.files, [file]);

    // Without progress the same limit ends the pull: every try is cut before the first byte.
    hub.injectFault(repoA.id, 'unet/model.onnx', { kind: 'drop', afterBytes: 0 }, 5);
    await assert.rejects(
      pullModel(repoA.id, { dest, endpoint: hub.endpoint, include: ['unet/model.onnx'], attempts: 2, ...fast }),
      (err: unknown) => err instanceof HubError && err.code === 'network',
    );
    assert.equal(downloadsOf('unet/model.onnx').length, 2);
  });

  test('a part left by an interrupted run is resumed by the next run', async () => {
    const dest = join(work, 'two-runs');
    hub.injectFault(repoA.id, 'unet/model.onnx_data', { kind: 'drop', afterBytes: 120_000 });
    await assert.rejects(
      pullModel(repoA.id, { dest, endpoint: hub.endpoint, attempts: 1, ...fast }),
      (err: unknown) => err instanceof HubError && err.code === 'network' && err.message.includes('unet/model.onnx_data'),
    );
    const partPath = join(dest, 'unet/model.onnx_data.part');
    const partSize = (await stat(partPath)).size;
    assert.ok(partSize > 0 && partSize <= 120_000, `part holds ${partSize} bytes`);
    assert.equal(existsSync(join(dest, 'unet/model.onnx_data')), false, 'no final file before it is complete');

    hub.requests.length = 0;
    const events: PullEvent[] = [];
    const result = await pullModel(repoA.id, { dest, endpoint: hub.endpoint, onEvent: (e) => events.push(e), ...fast });
    assert.deepEqual(downloadsOf('unet/model.onnx_data'), [{ range: `bytes=${partSize}-`, kind: 'cdn' }]);
    assert.ok(events.some((e) => e.type === 'start' && e.file === 'unet/model.onnx_data' && e.resumeFrom === partSize));
    assert.ok(result.downloadedBytes < 300_000 + 100_000, 'the resumed file was not fetched whole');
    await assertSameBytes(dest, repoA.files, PULLED);
    assert.deepEqual(await listFiles(dest), PULLED);
  });

  test('a server that answers a Range request with 200 gets the whole file written from zero', async () => {
    const dest = join(work, 'ignore-range');
    const file = 'unet/model.onnx_data';
    await mkdir(join(dest, 'unet'), { recursive: true });
    await writeFile(join(dest, `${file}.part`), (repoA.files[file] as Buffer).subarray(0, 50_000));
    hub.injectFault(repoA.id, file, { kind: 'ignore-range' });
    const events: PullEvent[] = [];
    await pullModel(repoA.id, { dest, endpoint: hub.endpoint, include: [file], onEvent: (e) => events.push(e), ...fast });
    assert.deepEqual(downloadsOf(file), [{ range: 'bytes=50000-', kind: 'cdn' }]);
    assert.ok(events.some((e) => e.type === 'restart'));
    await assertSameBytes(dest, repoA.files, [file]);
  });

  test('a stale part from another version fails verification once, then downloads cleanly', async () => {
    const dest = join(work, 'stale');
    const file = 'text_encoder/model.onnx';
    await mkdir(join(dest, 'text_encoder'), { recursive: true });
    await writeFile(join(dest, `${file}.part`), randomBytes(10_000));
    await pullModel(repoA.id, { dest, endpoint: hub.endpoint, include: [file], ...fast });
    assert.deepEqual(downloadsOf(file), [
      { range: 'bytes=10000-', kind: 'cdn' },
      { range: undefined, kind: 'cdn' },
    ]);
    await assertSameBytes(dest, repoA.files, [file]);
    assert.deepEqual(await listFiles(dest), [file]);
  });

  test('corrupt bytes are detected by sha256; neither the file nor its part is left behind', async () => {
    const dest = join(work, 'corrupt');
    const file = 'unet/model.onnx';
    hub.injectFault(repoA.id, file, { kind: 'corrupt' }, 10);
    await assert.rejects(pullModel(repoA.id, { dest, endpoint: hub.endpoint, ...fast }), (err: unknown) => {
      assert.ok(err instanceof HubError);
      assert.equal(err.code, 'checksum');
      const expected = createHash('sha256').update(repoA.files[file]).digest('hex');
      assert.match(err.message, new RegExp(`${file}.*sha256 [0-9a-f]{64}, expected ${expected}`));
      return true;
    });
    assert.equal(existsSync(join(dest, file)), false);
    assert.equal(existsSync(join(dest, `${file}.part`)), false);
  });

  test('non-LFS files are checked by size: short, long and cut-off bodies never reach the final name', async () => {
    const id = 'acme/size-checks';
    hub.addRepo({
      id,
      files: {
        'unet/model.onnx': randomBytes(100),
        'model_index.json': { content: '{"a":1}', listedSize: 20 },
        'unet/config.json': { content: '{"sample_size":64}', listedSize: 5 },
        'scheduler/scheduler_config.json': '{"x":1}',
      },
    });
    const dest = join(work, 'size');
    const pull = (include: string[], attempts = 2) => pullModel(id, { dest, endpoint: hub.endpoint, include, attempts, ...fast });

    await assert.rejects(pull(['model_index.json']), /model_index\.json: the hub sent 7 bytes, the listing says 20/);
    await assert.rejects(pull(['unet/config.json']), /unet\/config\.json: the hub sent more than the listed 5 bytes/);
    hub.injectFault(id, 'scheduler/scheduler_config.json', { kind: 'drop', afterBytes: 0 }, 2);
    await assert.rejects(
      pull(['scheduler/*']),
      (err: unknown) => err instanceof HubError && err.code === 'network' && /closed|terminated|socket/i.test(err.message),
    );
    assert.deepEqual(await listFiles(dest), ['scheduler/scheduler_config.json.part'], 'only the resumable part of the cut-off file remains');
    await pull(['scheduler/*']);
    assert.deepEqual(await listFiles(dest), ['scheduler/scheduler_config.json']);
  });

  test('a 500 from the hub is retried with backoff', async () => {
    const dest = join(work, 'flaky');
    hub.injectFault(repoA.id, 'unet/model.onnx', { kind: 'status', status: 500 });
    const events: PullEvent[] = [];
    await pullModel(repoA.id, { dest, endpoint: hub.endpoint, onEvent: (e) => events.push(e), ...fast });
    assert.ok(events.some((e) => e.type === 'retry' && e.file === 'unet/model.onnx' && /HTTP 500/.test(e.reason)));
    await assertSameBytes(dest, repoA.files, PULLED);
  });

  test('--include patterns replace the default selection (fnmatch: * crosses folders)', async () => {
    const dest = join(work, 'include');
    const result = await pullModel(repoA.id, { dest, endpoint: hub.endpoint, include: ['model_index.json', 'unet/', '*.txt'], ...fast });
    assert.deepEqual([...result.files].sort(), [
      'model_index.json',
      'tokenizer/merges.txt',
      'unet/config.json',
      'unet/diffusion_pytorch_model.safetensors',
      'unet/model.onnx',
      'unet/model.onnx_data',
    ]);
  });

  test('a PyTorch-only repo is refused with a pointer to ONNX exports', async () => {
    await assert.rejects(pullModel(pytorchRepo.id, { dest: join(work, 'pt'), endpoint: hub.endpoint, ...fast }), (err: unknown) => {
      assert.ok(err instanceof HubError);
      assert.equal(err.code, 'not-onnx');
      assert.match(err.message, /no unet\/model\.onnx/);
      assert.match(err.message, /PyTorch/);
      assert.match(err.message, /onnxruntime\/sd-turbo/);
      assert.match(err.message, /optimum-cli export onnx/);
      return true;
    });
    assert.equal(existsSync(join(work, 'pt')), false, 'nothing is created for a refused repo');
  });

  test('private and gated repos need a token; the token is sent as a Bearer header', async () => {
    const dest = join(work, 'private');
    await assert.rejects(
      pullModel(privateRepo.id, { dest, endpoint: hub.endpoint, ...fast }),
      (err: unknown) => err instanceof HubError && err.code === 'unauthorized' && /HF_TOKEN/.test(err.message) && /HTTP 401/.test(err.message),
    );
    await assert.rejects(
      pullModel(privateRepo.id, { dest, endpoint: hub.endpoint, token: 'wrong', ...fast }),
      (err: unknown) => err instanceof HubError && err.code === 'unauthorized' && /rejected HF_TOKEN/.test(err.message),
    );
    await assert.rejects(
      pullModel(gatedRepo.id, { dest, endpoint: hub.endpoint, token: 'hf_other', ...fast }),
      (err: unknown) => err instanceof HubError && err.code === 'unauthorized' && /gated/.test(err.message) && /licence/.test(err.message),
    );
    hub.requests.length = 0;
    await pullModel(privateRepo.id, { dest, endpoint: hub.endpoint, token: 'hf_secret', ...fast });
    const authed = hub.requests.filter((r) => r.kind === 'listing' || r.kind === 'resolve' || r.kind === 'cache');
    assert.ok(authed.length > PULLED.length);
    for (const r of authed) assert.equal(r.headers.authorization, 'Bearer hf_secret');
    await assertSameBytes(dest, privateRepo.files as Record<string, Buffer | string>, PULLED);
  });

  test('missing repos and revisions give not-found errors', async () => {
    await assert.rejects(
      pullModel('acme/nope', { dest: join(work, 'nope'), endpoint: hub.endpoint, token: 'hf_any', ...fast }),
      (err: unknown) => err instanceof HubError && err.code === 'not-found' && /Repo acme\/nope not found/.test(err.message),
    );
    await assert.rejects(
      pullModel(repoA.id, { dest: join(work, 'nope'), endpoint: hub.endpoint, revision: 'v9', ...fast }),
      (err: unknown) => err instanceof HubError && err.code === 'not-found' && /Revision "v9" not found/.test(err.message),
    );
  });

  test('a listing with a path outside the folder is refused', async () => {
    await assert.rejects(
      pullModel(evilRepo.id, { dest: join(work, 'evil'), endpoint: hub.endpoint, ...fast }),
      (err: unknown) => err instanceof HubError && err.code === 'invalid' && /unsafe file path/.test(err.message),
    );
    assert.equal(existsSync(join(work, 'escape.txt')), false);
  });

  test('an unreachable hub is a network error after bounded retries', async () => {
    // A port that was just free: connections to it are refused.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise((r) => probe.close(r));
    const events: PullEvent[] = [];
    await assert.rejects(
      pullModel(repoA.id, { dest: join(work, 'down'), endpoint: `http://127.0.0.1:${port}`, attempts: 3, onEvent: (e) => events.push(e), ...fast }),
      (err: unknown) => err instanceof HubError && err.code === 'network' && /ECONNREFUSED|connect/i.test(err.message),
    );
    assert.deepEqual(
      events.filter((e) => e.type === 'retry').map((e) => (e.type === 'retry' ? e.delayMs : 0)),
      [5, 10],
    );
  });

  test('bad repo ids are rejected before any request', async () => {
    await assert.rejects(pullModel('../etc', { dest: join(work, 'x'), endpoint: hub.endpoint }), /owner\/name/);
    assert.equal(hub.requests.length, 0);
  });
});

// ---- the CLI, spawned as `npm run models` would run it ------------------------------------

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, entryArgs('src/cli/models.ts', ...args), {
      ...isolated(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

function assertCleanFailure(r: CliResult, pattern: RegExp): void {
  assert.notEqual(r.code, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one error line, got:\n${r.stderr}`);
  assert.match(lines[0], /^models: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

describe('npm run models', () => {
  test('pull fills MODELS_DIR/<name>, resuming a dropped connection with a Range request', async () => {
    const modelsDir = join(work, 'cli-models');
    hub.injectFault(repoA.id, 'unet/model.onnx_data', { kind: 'drop', afterBytes: 64_000 });
    const r = await runCli(['pull', repoA.id], { HF_ENDPOINT: hub.endpoint, MODELS_DIR: modelsDir });
    assert.equal(r.code, 0, r.stderr);
    const dest = join(modelsDir, 'tiny-sd-onnx');
    await assertSameBytes(dest, repoA.files, PULLED);
    assert.deepEqual(await listFiles(dest), PULLED);
    const tries = downloadsOf('unet/model.onnx_data');
    assert.equal(tries.length, 2);
    assert.match(tries[1].range ?? '', /^bytes=[1-9]\d*-$/);
    // Not a TTY: plain log lines, no progress-bar escape codes.
    assert.match(r.stdout, /acme\/tiny-sd-onnx@main .*: 11 files/);
    assert.match(r.stdout, /retry\s+unet\/model\.onnx_data/);
    assert.match(r.stdout, /Pulled acme\/tiny-sd-onnx@main into .*tiny-sd-onnx: 11 files/);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for terminal escape codes (ESC [)
    assert.doesNotMatch(r.stdout, /\u001b\[/);
    assert.equal(r.stderr, '');
  });

  test('pull --revision --dir --include, with HF_TOKEN from the environment', async () => {
    const dest = join(work, 'cli-private');
    const r = await runCli(['pull', privateRepo.id, '--revision', 'fp16', '--dir', dest, '--include', 'unet/*.onnx', '--include', 'model_index.json'], {
      HF_ENDPOINT: hub.endpoint,
      HF_TOKEN: 'hf_secret',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await listFiles(dest), ['model_index.json', 'unet/model.onnx']);
    assert.match(hub.requests[0].url, /\/revision\/fp16\?blobs=true$/);
  });

  test('a missing repo exits non-zero with one clear line', async () => {
    const r = await runCli(['pull', 'acme/does-not-exist'], { HF_ENDPOINT: hub.endpoint, HF_TOKEN: 'hf_any', MODELS_DIR: work });
    assertCleanFailure(r, /Repo acme\/does-not-exist not found .*HTTP 404/);
  });

  test('a private repo without HF_TOKEN exits non-zero and says to set HF_TOKEN', async () => {
    const r = await runCli(['pull', privateRepo.id], { HF_ENDPOINT: hub.endpoint, MODELS_DIR: work });
    assertCleanFailure(r, /HTTP 401.*set HF_TOKEN.*licence/);
  });

  test('a PyTorch-only repo is refused', async () => {
    const r = await runCli(['pull', pytorchRepo.id], { HF_ENDPOINT: hub.endpoint, MODELS_DIR: work });
    assertCleanFailure(r, /PyTorch.*onnxruntime\/sd-turbo/);
  });

  test('bad arguments and unknown commands are one-line usage errors', async () => {
    assertCleanFailure(await runCli(['pull'], { HF_ENDPOINT: hub.endpoint }), /one repo id.*help/);
    assertCleanFailure(await runCli(['frobnicate'], {}), /unknown command "frobnicate"/);
    assertCleanFailure(await runCli(['create-tiny', join(work, 't'), '--timestep', 'int32'], {}), /--timestep: .*int64/);
  });

  test('list shows each model folder with its size and summary; help lists the commands', async () => {
    const modelsDir = join(work, 'cli-models'); // filled by the first CLI test
    await mkdir(join(modelsDir, 'half-done', 'unet'), { recursive: true });
    await writeFile(join(modelsDir, 'half-done', 'unet', 'model.onnx.part'), randomBytes(10));
    const r = await runCli(['list'], { MODELS_DIR: modelsDir });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /^NAME\s+SIZE\s+SUMMARY$/);
    assert.match(lines[1], /^half-done\s+10 B\s+not a model folder .*incomplete: 1 \.part file/);
    assert.match(lines[2], /^tiny-sd-onnx\s+\d+ kB\s+OnnxStableDiffusionPipeline, EulerDiscreteScheduler, parts: text_encoder unet vae_decoder$/);

    const help = await runCli(['help'], {});
    assert.equal(help.code, 0);
    for (const cmd of ['pull', 'list', 'create-tiny', 'help']) assert.match(help.stdout, new RegExp(`^  ${cmd}\\b`, 'm'));
  });

  test('create-tiny writes a model folder', async () => {
    const dir = join(work, 'cli-tiny');
    const r = await runCli(['create-tiny', dir], {});
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(dir, 'model_index.json')));
    assert.ok(existsSync(join(dir, 'unet', 'model.onnx')));
  });
});
