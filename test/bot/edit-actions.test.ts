// The editing tools' pure parts: their custom_ids (within Discord's 100 characters, for the
// longest job id the scheme takes), lineage titles, and what ℹ️ says about where a job came from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeCustomId, MAX_CUSTOM_ID_LENGTH, parseCustomId } from '../../src/bot/custom-id.js';
import { EDIT_ACTIONS, EDIT_ROWS, editTitle } from '../../src/bot/edit-catalog.js';
import { editComponents, infoText, jobTitle } from '../../src/bot/render.js';
import { jobRecord } from '../support/job-record.js';

test('every tool’s custom_id round-trips within 100 characters', () => {
  const longest = 'j'.repeat(80);
  for (const action of EDIT_ACTIONS) {
    const id = encodeCustomId({ action, jobId: longest, index: 3 });
    assert.ok(id.length <= MAX_CUSTOM_ID_LENGTH, id);
    assert.deepEqual(parseCustomId(id), { action, jobId: longest, index: 3 });
  }
  // Each tool has one button; Discord allows 5 per row and 5 rows.
  assert.deepEqual(
    EDIT_ROWS.flat()
      .map((t) => t.action)
      .sort(),
    [...EDIT_ACTIONS].sort(),
  );
  const rows = editComponents('job-1');
  assert.ok(rows.length <= 5 && rows.every((r) => r.components.length <= 5));
});

test('lineage: the tool and the image it started from, in titles and ℹ️', () => {
  const zoom = jobRecord({
    id: 'child',
    kind: 'img2img',
    parent: { jobId: 'parent-job', imageIndex: 2, action: 'zoom_out_2' },
    request: { prompt: 'p', seed: 1, steps: 2, guidanceScale: 1, width: 256, height: 256, count: 1, strength: 1, edit: { kind: 'zoom', factor: 2 } },
  });
  assert.equal(jobTitle(zoom), 'Zoom Out 2× of image 3');
  assert.match(infoText(zoom), /\*\*From\*\* Zoom Out 2× of job `parent-job` image 3/);
  const custom = {
    ...zoom,
    parent: { jobId: 'parent-job', imageIndex: 0, action: 'zoom_custom' },
    request: { ...zoom.request, edit: { kind: 'zoom' as const, factor: 1.25 } },
  };
  assert.equal(jobTitle(custom), 'Zoom Out 1.25× of image 1');
  assert.equal(editTitle('pan_left'), 'Pan ⬅');
  // A creative upscale's request holds its input's size; ℹ️ shows the size drawn.
  const creative = {
    ...zoom,
    parent: { jobId: 'p', imageIndex: 0, action: 'upscale_creative' },
    request: { ...zoom.request, edit: { kind: 'hires' as const, scale: 2 } },
  };
  assert.match(infoText(creative), /Size\*\* 512×512/);
  // U and V keep their old wording.
  assert.match(infoText({ ...zoom, parent: { jobId: 'parent-job', imageIndex: 2 } }), /\*\*From\*\* image 3 of job `parent-job`/);
});
