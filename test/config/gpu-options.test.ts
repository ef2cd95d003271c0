// GPU devices and their provider settings, checked on any machine: the env keys (zod), device
// names, the execution-provider lists handed to ONNX Runtime, the host↔device copy counter,
// a webgpu device falling back to CPU where no WebGPU adapter exists, and the upload-once cache of
// step-constant feeds (its Identity uploader runs on CPU here; on WebGPU its output stays on the GPU).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { gpuOptionsFromEnv } from '../../src/config/gpu.js';
import { loadEnv } from '../../src/config/env.js';
import { countTransfers, executionProviders, ignoredCudaOptions, transfersOf } from '../../src/diffusion/execution-providers.js';
import { createSession, deviceLabel, parseDevice } from '../../src/diffusion/sessions.js';
import { createTinyModel } from '../../src/models/tiny/index.js';
import { DeviceResidentFeeds, webgpuUploader } from '../../src/diffusion/device-feeds.js';

test('ORT_CUDA_* and ORT_WEBGPU_LAYOUT parse into provider options; empty means unset', () => {
  assert.deepEqual(gpuOptionsFromEnv({}), { cuda: {}, webgpu: {} });
  assert.deepEqual(
    gpuOptionsFromEnv({
      ORT_CUDA_ARENA_EXTEND_STRATEGY: 'Same_As_Requested',
      ORT_CUDA_MEM_LIMIT_MB: '8192',
      ORT_CUDNN_CONV_ALGO_SEARCH: 'heuristic',
      ORT_CUDA_GRAPH: 'yes',
      ORT_WEBGPU_LAYOUT: 'nchw',
    }),
    {
      cuda: { arenaExtendStrategy: 'same_as_requested', gpuMemLimit: 8192 * 2 ** 20, cudnnConvAlgoSearch: 'heuristic', enableCudaGraph: true },
      webgpu: { preferredLayout: 'NCHW' },
    },
  );
  assert.deepEqual(gpuOptionsFromEnv({ ORT_CUDA_GRAPH: '', ORT_CUDA_MEM_LIMIT_MB: ' ', ORT_CUDNN_CONV_ALGO_SEARCH: '' }), { cuda: {}, webgpu: {} });
});

test('bad GPU settings are refused together, each with what is allowed', () => {
  assert.throws(
    () =>
      gpuOptionsFromEnv({
        ORT_CUDA_ARENA_EXTEND_STRATEGY: 'double',
        ORT_CUDA_MEM_LIMIT_MB: '1.5',
        ORT_CUDNN_CONV_ALGO_SEARCH: 'fast',
        ORT_CUDA_GRAPH: 'maybe',
      }),
    (err: Error) =>
      /ORT_CUDA_ARENA_EXTEND_STRATEGY: must be next_power_of_two or same_as_requested/.test(err.message) &&
      /ORT_CUDA_MEM_LIMIT_MB: must be a whole number of MiB/.test(err.message) &&
      /ORT_CUDNN_CONV_ALGO_SEARCH: must be exhaustive, heuristic or default/.test(err.message) &&
      /ORT_CUDA_GRAPH: must be 1 or 0/.test(err.message),
  );
  // The bot's and workers' one configuration check includes them.
  assert.throws(() => loadEnv({ ORT_WEBGPU_LAYOUT: 'nhcw' }), /ORT_WEBGPU_LAYOUT: must be NCHW or NHWC/);
});

test('devices: webgpu beside cpu and cuda:N, in DEVICES too', () => {
  assert.deepEqual(parseDevice('WebGPU'), { kind: 'webgpu' });
  assert.deepEqual(parseDevice('cuda:2'), { kind: 'cuda', id: 2 });
  assert.deepEqual(parseDevice('cuda'), { kind: 'cuda', id: 0 });
  assert.equal(deviceLabel(parseDevice(' webgpu ')), 'webgpu');
  assert.throws(() => parseDevice('webgpu:1'), /use cpu, cuda, cuda:N \(for example cuda:1\) or webgpu/);
  assert.throws(() => parseDevice('rocm'), /Unknown device "rocm"/);
  assert.deepEqual(loadEnv({ DEVICES: 'cuda:0,webgpu' }).DEVICES, ['cuda:0', 'webgpu']);
  assert.throws(() => loadEnv({ DEVICES: 'webgpu:0' }), /cuda:N, webgpu or noop:N/);
});

test('execution providers: CPU last; CUDA gets the device id and the settings; WebGPU only the options its binding accepts', () => {
  assert.deepEqual(executionProviders({ kind: 'cpu' }), ['cpu']);
  assert.deepEqual(executionProviders({ kind: 'cuda', id: 1 }), [{ name: 'cuda', deviceId: 1 }, 'cpu']);
  const gpu = gpuOptionsFromEnv({
    ORT_CUDA_ARENA_EXTEND_STRATEGY: 'same_as_requested',
    ORT_CUDA_MEM_LIMIT_MB: '1024',
    ORT_CUDNN_CONV_ALGO_SEARCH: 'heuristic',
    ORT_CUDA_GRAPH: '1',
    ORT_WEBGPU_LAYOUT: 'NHWC',
  });
  assert.deepEqual(executionProviders({ kind: 'cuda', id: 0 }, gpu), [
    { name: 'cuda', deviceId: 0, arenaExtendStrategy: 1, gpuMemLimit: 2 ** 30, cudnnConvAlgoSearch: 'HEURISTIC', enableCudaGraph: true },
    'cpu',
  ]);
  // onnxruntime-node throws on any WebGPU option it does not know, deviceId included.
  assert.deepEqual(executionProviders({ kind: 'webgpu' }), [{ name: 'webgpu' }, 'cpu']);
  assert.deepEqual(executionProviders({ kind: 'webgpu' }, gpu), [{ name: 'webgpu', preferredLayout: 'NHWC' }, 'cpu']);
  assert.deepEqual(ignoredCudaOptions(gpu), ['arenaExtendStrategy', 'gpuMemLimit', 'cudnnConvAlgoSearch', 'enableCudaGraph']);
  assert.deepEqual(ignoredCudaOptions(gpuOptionsFromEnv({})), []);
});

test('the copy counter counts host-resident feeds and outputs on a GPU device, none on CPU', () => {
  const t = (n: number) => new ort.Tensor('float32', new Float32Array(n), [n]);
  const before = transfersOf('probe');
  countTransfers({ kind: 'cpu' }, 'probe', { a: t(4) }, { b: t(4) });
  assert.deepEqual(transfersOf('probe'), before);
  countTransfers({ kind: 'cuda', id: 0 }, 'probe', { sample: t(8), timestep: t(1), encoder_hidden_states: t(16) }, { out_sample: t(8) });
  const after = transfersOf('probe');
  assert.equal(after.hostToDevice - before.hostToDevice, 3);
  assert.equal(after.deviceToHost - before.deviceToHost, 1);
  assert.equal(after.hostToDeviceBytes - before.hostToDeviceBytes, (8 + 1 + 16) * 4);
  assert.equal(after.deviceToHostBytes - before.deviceToHostBytes, 8 * 4);
});

const root = mkdtempSync(join(tmpdir(), 'gpu-options-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('a webgpu session runs: on WebGPU where an adapter exists, else on CPU (logged), never an error', async () => {
  const dir = join(root, 'tiny');
  await createTinyModel(dir);
  const s = await createSession(join(dir, 'vae_decoder', 'model.onnx'), parseDevice('webgpu'), 'vae_decoder');
  try {
    assert.ok(['webgpu', 'cpu'].includes(s.device.kind), s.device.kind);
    const out = await s.session.run({ latent_sample: new ort.Tensor('float32', new Float32Array(4 * 8 * 8), [1, 4, 8, 8]) });
    assert.deepEqual((out.sample as ort.Tensor).dims, [1, 3, 64, 64]);
    const copies = transfersOf('vae_decoder');
    // On WebGPU the feed goes up and the picture comes down; on CPU nothing crosses.
    assert.deepEqual([copies.hostToDevice, copies.deviceToHost], s.device.kind === 'webgpu' ? [1, 1] : [0, 0]);
  } finally {
    await s.session.release();
  }
});

test('step-constant UNet feeds are uploaded once per job and reused every step (the Identity uploader, here on CPU)', async () => {
  const resident = new DeviceResidentFeeds(webgpuUploader(['cpu']));
  const hidden = new ort.Tensor(
    'float32',
    Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i),
    [2, 3, 4],
  );
  const timeIds = new ort.Tensor('float32', Float32Array.of(64, 64, 0, 0, 64, 64), [1, 6]);
  const step = (i: number, h = hidden) => ({
    sample: new ort.Tensor('float32', new Float32Array(4).fill(i), [1, 4]),
    encoder_hidden_states: h,
    time_ids: timeIds,
  });
  const seen: ort.OnnxValue[] = [];
  for (let i = 0; i < 3; i++) {
    const { feeds, uploaded } = await resident.map(step(i));
    assert.deepEqual(Object.keys(uploaded), i === 0 ? ['encoder_hidden_states', 'time_ids'] : []);
    assert.equal((feeds.sample as ort.Tensor).data[0], i, 'per-step feeds pass through');
    assert.notEqual(feeds.encoder_hidden_states, hidden, 'fed from the upload, not the host tensor');
    assert.deepEqual((feeds.encoder_hidden_states as ort.Tensor).dims, [2, 3, 4]);
    seen.push(feeds.encoder_hidden_states);
  }
  assert.equal(seen[0], seen[2], 'one upload serves every step');
  assert.deepEqual([...((seen[0] as ort.Tensor).data as Float32Array)], [...(hidden.data as Float32Array)]);
  assert.equal(resident.uploads, 2);
  // The next job's embeddings replace the last job's upload.
  const next = new ort.Tensor('float32', new Float32Array(24).fill(7), [2, 3, 4]);
  const { feeds, uploaded } = await resident.map(step(0, next));
  assert.deepEqual(Object.keys(uploaded), ['encoder_hidden_states']);
  assert.equal(((feeds.encoder_hidden_states as ort.Tensor).data as Float32Array)[5], 7);
  resident.dispose();
});
