import assert from 'node:assert/strict';
import { test } from 'node:test';
import { a1111NameOf, schedulerFor } from '../../src/api/samplers.js';
import { isLoopbackHost, loadApiConfig } from '../../src/config/api.js';

test('A1111 sampler names map to our schedulers, Karras by name or by schedule type', () => {
  assert.equal(schedulerFor('Euler a'), 'euler_a');
  assert.equal(schedulerFor('euler A'), 'euler_a', 'any case');
  assert.equal(schedulerFor('k_dpmpp_2m'), 'dpmpp_2m');
  assert.equal(schedulerFor('DPM++ 2M Karras'), 'dpmpp_2m_karras');
  assert.equal(schedulerFor('DPM++ 2M', 'Karras'), 'dpmpp_2m_karras');
  assert.equal(schedulerFor('Euler', 'karras'), 'euler_karras');
  assert.equal(schedulerFor('DPM++ 2M', 'Automatic'), 'dpmpp_2m');
  assert.equal(schedulerFor('PLMS'), 'pndm');
  assert.equal(schedulerFor('unipc'), 'unipc', 'our own names too');
  assert.equal(schedulerFor('DPM fast'), undefined);
  assert.equal(a1111NameOf('dpmpp_2m_karras'), 'DPM++ 2M Karras');
  // On SD3 (flow matching), A1111's Euler is the flow-match Euler step, as Forge runs it.
  assert.equal(schedulerFor('Euler', undefined, 'sd3.5-medium'), 'flow_match_euler');
  assert.equal(schedulerFor('Euler', undefined, 'sd1'), 'euler');
  assert.equal(schedulerFor('Euler a', undefined, 'sd3'), 'euler_a', 'other samplers stay as named (the engine refuses them on SD3)');
  assert.equal(a1111NameOf('flow_match_euler'), 'Flow Match Euler');
});

test('API config: off unless a port is given; keyless only on loopback', () => {
  assert.equal(loadApiConfig({}), undefined);
  assert.deepEqual(loadApiConfig({}, 7860), { host: '127.0.0.1', port: 7860, auth: true, ratePerMinute: 120, syncTimeoutMs: 600_000 });
  assert.equal(loadApiConfig({ API_PORT: '8000', API_AUTH: 'off' })?.auth, false);
  assert.throws(
    () => loadApiConfig({ API_PORT: '8000', API_AUTH: 'off', API_HOST: '0.0.0.0' }),
    /API_AUTH=off is only allowed when the API listens on loopback/,
  );
  assert.throws(() => loadApiConfig({ API_PORT: 'eighty' }), /API_PORT/);
  assert.throws(() => loadApiConfig({ API_PORT: '1', API_AUTH: 'maybe' }), /API_AUTH: must be on or off/);
  assert.ok(isLoopbackHost('127.0.0.2') && isLoopbackHost('::1') && isLoopbackHost('localhost'));
  assert.ok(!isLoopbackHost('0.0.0.0') && !isLoopbackHost('192.168.1.2') && !isLoopbackHost('::'));
});
