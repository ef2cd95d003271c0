// The cloud provider behind the API: with IMAGE_PROVIDER=fallback and no local device, an API
// job is drawn by Gemini (the Google stand-in, which the real @google/genai client talks to over
// loopback), exactly as a Discord job would be.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { type GoogleStandIn, startGoogleStandIn } from '../support/google/index.js';
import { type ApiProcess, createKey, postJson, startApi, tempDataDir } from './support.js';

let google: GoogleStandIn;
let api: ApiProcess;
let key: string;

before(async () => {
  google = await startGoogleStandIn();
  const dataDir = tempDataDir();
  key = createKey(dataDir, 'cloud-client');
  api = await startApi({ DEVICES: 'none', IMAGE_PROVIDER: 'fallback', GOOGLE_API_KEY: google.apiKey, GOOGLE_API_BASE_URL: google.baseUrl }, { dataDir });
});
after(async () => {
  await api?.stop();
  await google?.close();
});

test('with no local device the fallback policy sends API jobs to the cloud provider', async () => {
  const r = await postJson(`${api.url}/v1/images/generations`, { prompt: 'a cloud-drawn kite', n: 2, size: '512x512' }, key);
  assert.equal(r.status, 200, `${JSON.stringify(r.json)}\n${api.output()}`);
  assert.equal(r.json.data.length, 2);
  assert.equal(google.generateCalls().length, 2, 'one generateContent call per image');
  assert.ok(JSON.stringify(google.generateCalls()[0].body).includes('a cloud-drawn kite'));
  const meta = await sharp(Buffer.from(r.json.data[0].b64_json, 'base64')).metadata();
  assert.ok(meta.width && meta.width > 0);
});
