// The status page in headless Chromium (Debian's `chromium` package, driven by playwright-core):
// open GET / with a key, see the devices and the queue, submit a prompt, watch the progress
// arrive over SSE, see the image. Skips with a message when no chromium binary is installed.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { type ApiProcess, createKey, startApi, tempDataDir } from './support.js';

/** What the page-side functions use of the DOM (the tests compile without DOM types). */
interface Page {
  document: { querySelector(selector: string): { textContent: string | null; value?: number; complete?: boolean; naturalWidth?: number } | null };
}

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', process.env.CHROMIUM_PATH].find((p): p is string => !!p && existsSync(p));
const skip = CHROMIUM ? false : 'no chromium binary (apt-get install chromium, or set CHROMIUM_PATH)';

describe('status page', { skip }, () => {
  let api: ApiProcess;
  let browser: Browser;
  let key: string;
  before(async () => {
    const dataDir = tempDataDir();
    key = createKey(dataDir, 'browser');
    api = await startApi({ DEVICES: 'noop:1', NOOP_STEP_MS: '150' }, { dataDir });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await api?.stop();
  });

  test('submit a prompt, see its progress, see the image', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(String(err)));
    await page.goto(`${api.url}/#key=${key}`);
    await page.waitForFunction(() => ((globalThis as unknown as Page).document.querySelector('#who')?.textContent ?? '').includes('key: browser'));
    assert.match((await page.textContent('#devices')) ?? '', /noop:\d+up/);
    await page.fill('#prompt', 'a watercolour owl');
    await page.click('button[type=submit]');
    // Progress from the SSE stream: a step count, the bar moving.
    await page.waitForFunction(() => /step \d+ of \d+/.test((globalThis as unknown as Page).document.querySelector('#job-status')?.textContent ?? ''), null, {
      timeout: 30_000,
    });
    const value = await page.evaluate(() => (globalThis as unknown as Page).document.querySelector('#job-progress')?.value ?? -1);
    assert.ok(value > 0 && value < 1, `progress bar at ${value}`);
    // Meanwhile the queue shows the running job.
    await page.waitForFunction(
      () => ((globalThis as unknown as Page).document.querySelector('#queue')?.textContent ?? '').includes('a watercolour owl'),
      null,
      { timeout: 10_000 },
    );
    await page.waitForSelector('#result img', { timeout: 30_000 });
    const loaded = await page.evaluate(() => {
      const img = (globalThis as unknown as Page).document.querySelector('#result img');
      return img?.complete === true && (img.naturalWidth ?? 0) > 0;
    });
    assert.ok(loaded, 'the result image loaded');
    assert.equal(await page.textContent('#job-status'), 'done');
    await page.waitForSelector('#recent img');
    assert.deepEqual(problems, []);
  });

  test('without a key the page says what is wrong', async () => {
    const page = await browser.newPage();
    await page.goto(`${api.url}/`);
    await page.waitForFunction(() => ((globalThis as unknown as Page).document.querySelector('#problem')?.textContent ?? '') !== '');
    assert.match((await page.textContent('#problem')) ?? '', /API key is required/);
  });
});
