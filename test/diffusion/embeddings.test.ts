// Textual-inversion embeddings: the token table grows by the file's vectors, the tokenizer maps
// the name to the new ids, and a prompt naming it encodes differently while others do not change.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { extendTextEncoder, listEmbeddings } from '../../src/diffusion/embeddings.js';
import { encodeSafetensors } from '../../src/diffusion/lora/safetensors.js';
import { loadPipeline } from '../../src/diffusion/pipeline.js';
import { ClipTokenizer } from '../../src/diffusion/tokenizer.js';
import type { GenerationRequest } from '../../src/diffusion/types.js';
import { createTinyEmbedding } from '../../src/models/tiny/index.js';
import { tinyModel } from '../support/tiny-models.js';

const tmp = mkdtempSync(join(tmpdir(), 'embeddings-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const embeddingsDir = join(tmp, 'embeddings');
const request: GenerationRequest = { prompt: '', seed: 5, steps: 3, guidanceScale: 7.5, width: 64, height: 64, count: 1 };

describe('textual-inversion embeddings', () => {
  let model: string;
  before(async () => {
    model = await tinyModel();
    mkdirSync(embeddingsDir);
    await createTinyEmbedding(join(embeddingsDir, 'mystyle.safetensors'), { model, vectors: 2 });
    // SDXL-width vectors: no text encoder here takes them.
    writeFileSync(join(embeddingsDir, 'wide.safetensors'), encodeSafetensors({ clip_g: { dtype: 'F32', shape: [1, 1280], data: new Float32Array(1280) } }));
  });

  it('appends the vectors to the token table and gives the name the new ids; another width is skipped', async () => {
    const tokenizer = await ClipTokenizer.fromDir(join(model, 'tokenizer'));
    const { ids } = await extendTextEncoder(join(model, 'text_encoder', 'model.onnx'), 'text_encoder', listEmbeddings(tmp));
    const vocab = tokenizer.vocabSize;
    assert.deepEqual([...ids], [['mystyle', [vocab, vocab + 1]]]);
    const t = tokenizer.withAddedWords(ids);
    const plain = tokenizer.tokenize('a cat');
    assert.deepEqual(t.tokenize('a cat, mystyle'), [...plain, ...tokenizer.tokenize(','), vocab, vocab + 1]);
    assert.deepEqual(t.tokenize('mystyles'), tokenizer.tokenize('mystyles'), 'whole words only');
  });

  it('SDXL: clip_l extends text_encoder, clip_g text_encoder_2', async () => {
    const xl = await tinyModel('sdxl');
    const file = join(tmp, 'xl.safetensors');
    await createTinyEmbedding(file, { model: xl, vectors: 1 });
    const one = await extendTextEncoder(join(xl, 'text_encoder', 'model.onnx'), 'text_encoder', [{ name: 'xl', path: file }]);
    const two = await extendTextEncoder(join(xl, 'text_encoder_2', 'model.onnx'), 'text_encoder_2', [{ name: 'xl', path: file }]);
    assert.equal(one.ids.get('xl')?.length, 1);
    assert.equal(two.ids.get('xl')?.length, 1);
  });

  it('a prompt naming the embedding changes; one that does not stays bit for bit', async () => {
    const px = async (prompt: string, withEmbeddings: boolean) => {
      const pipe = await loadPipeline(model, withEmbeddings ? { embeddings: listEmbeddings(tmp) } : {});
      try {
        return await sharp((await pipe.generate({ ...request, prompt })).images[0].png)
          .raw()
          .toBuffer();
      } finally {
        await pipe.dispose();
      }
    };
    assert.ok((await px('a cat', true)).equals(await px('a cat', false)), 'other prompts are untouched');
    assert.ok(!(await px('a cat mystyle', true)).equals(await px('a cat mystyle', false)), 'the embedding is used');
  });
});
