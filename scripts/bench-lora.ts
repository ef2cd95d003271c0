// LoRA merge cost on a full-size SD 1.5 UNet shape: a synthetic model.onnx + model.onnx_data
// with every weight of SD 1.5's UNet (same shapes, same torch.onnx.export naming: anonymous
// MatMul weights under scoped node names, module-named Conv weights), and a rank-32 kohya LoRA on
// the 192 modules a typical SD 1.5 LoRA trains (attention, feed-forward, proj_in/out). Each
// measurement runs in a fresh process: the plain session from the file, then the merge and the
// session from the merged bytes; peak RSS is getrusage's maxRSS.
//   tsx scripts/bench-lora.ts [--fp32] [--rank 32]
//   tsx scripts/bench-lora.ts --child base|lora <dir>     one measurement (used by the above)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import onnxProto from 'onnx-proto';
import { loadLoras, LoraMerger } from '../src/diffusion/lora/apply.js';
import { encodeSafetensors } from '../src/diffusion/lora/safetensors.js';
import { createSession } from '../src/diffusion/sessions.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;

interface Weight {
  module: string;
  kind: 'linear' | 'conv3' | 'conv1';
  out: number;
  in: number;
  /** Trained by a typical LoRA. */
  lora: boolean;
}

/** SD 1.5's UNet (diffusers' UNet2DConditionModel, 320/640/1280/1280, 768-wide text): its weights. */
function sd15Weights(): Weight[] {
  const w: Weight[] = [];
  const lin = (module: string, out: number, inF: number, lora = false) => w.push({ module, kind: 'linear', out, in: inF, lora });
  const conv = (module: string, out: number, inC: number, k: 1 | 3, lora = false) => w.push({ module, kind: k === 3 ? 'conv3' : 'conv1', out, in: inC, lora });
  const resnet = (p: string, inC: number, out: number) => {
    conv(`${p}.conv1`, out, inC, 3);
    lin(`${p}.time_emb_proj`, out, 1280);
    conv(`${p}.conv2`, out, out, 3);
    if (inC !== out) conv(`${p}.conv_shortcut`, out, inC, 1);
  };
  const attention = (p: string, c: number) => {
    conv(`${p}.proj_in`, c, c, 1, true);
    const t = `${p}.transformer_blocks.0`;
    for (const a of ['attn1', 'attn2']) {
      lin(`${t}.${a}.to_q`, c, c, true);
      lin(`${t}.${a}.to_k`, c, a === 'attn1' ? c : 768, true);
      lin(`${t}.${a}.to_v`, c, a === 'attn1' ? c : 768, true);
      lin(`${t}.${a}.to_out.0`, c, c, true);
    }
    lin(`${t}.ff.net.0.proj`, 8 * c, c, true);
    lin(`${t}.ff.net.2`, c, 4 * c, true);
    conv(`${p}.proj_out`, c, c, 1, true);
  };
  conv('conv_in', 320, 4, 3);
  lin('time_embedding.linear_1', 1280, 320);
  lin('time_embedding.linear_2', 1280, 1280);
  const ch = [320, 640, 1280, 1280];
  let prev = 320;
  const skips = [320];
  ch.forEach((c, b) => {
    for (let i = 0; i < 2; i++) {
      resnet(`down_blocks.${b}.resnets.${i}`, i === 0 ? prev : c, c);
      if (b < 3) attention(`down_blocks.${b}.attentions.${i}`, c);
      skips.push(c);
    }
    if (b < 3) {
      conv(`down_blocks.${b}.downsamplers.0.conv`, c, c, 3);
      skips.push(c);
    }
    prev = c;
  });
  resnet('mid_block.resnets.0', 1280, 1280);
  attention('mid_block.attentions.0', 1280);
  resnet('mid_block.resnets.1', 1280, 1280);
  const up = [1280, 1280, 640, 320];
  up.forEach((c, b) => {
    for (let i = 0; i < 3; i++) {
      const skip = skips.pop() ?? c;
      resnet(`up_blocks.${b}.resnets.${i}`, prev + skip, c);
      if (b > 0) attention(`up_blocks.${b}.attentions.${i}`, c);
      prev = c;
    }
    if (b < 3) conv(`up_blocks.${b}.upsamplers.0.conv`, c, c, 3);
  });
  conv('conv_out', 4, 320, 3);
  return w;
}

const scope = (module: string) => {
  const segs: string[] = [];
  for (const s of module.split('.')) {
    if (/^\d+$/.test(s) && segs.length > 0) segs[segs.length - 1] += `.${s}`;
    else segs.push(s);
  }
  return `/${segs.join('/')}`;
};

/** Writes unet/model.onnx + model.onnx_data and the LoRA; returns the parameter count. */
function writeModel(dir: string, fp32: boolean, rank: number): { params: number; loraModules: number } {
  const weights = sd15Weights();
  const elem = fp32 ? 4 : 2;
  const dataPath = join(dir, 'model.onnx_data');
  const fd = openSync(dataPath, 'w');
  const graph: onnxProto.onnx.IGraphProto = { name: 'unet', node: [], initializer: [], input: [], output: [] };
  const inputs = new Set<string>();
  let offset = 0;
  let params = 0;
  const chunk = Buffer.alloc(1 << 24);
  // Small non-zero values, so the arithmetic is that of real weights.
  if (fp32) for (let i = 0; i < chunk.length; i += 4) chunk.writeFloatLE(((i % 977) - 488) * 1e-5, i);
  else for (let i = 0; i < chunk.length; i += 2) chunk.writeUInt16LE(0x1400 + (i % 255), i);
  weights.forEach((w, n) => {
    const k = w.kind === 'conv3' ? 3 : 1;
    const dims = w.kind === 'linear' ? [w.in, w.out] : [w.out, w.in, k, k];
    const count = dims.reduce((a, b) => a * b, 1);
    params += count;
    const length = count * elem;
    for (let left = length; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(left, chunk.length));
    const name = w.kind === 'linear' ? `onnx::MatMul_${n}` : `${w.module}.weight`;
    graph.initializer?.push({
      name,
      dataType: fp32 ? FLOAT : FLOAT16,
      dims,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: 'model.onnx_data' },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(length) },
      ],
    });
    offset += length;
    let weightValue = name;
    if (!fp32) {
      weightValue = `${name}_f32`;
      graph.node?.push({
        opType: 'Cast',
        name: `${scope(w.module)}/Cast`,
        input: [name],
        output: [weightValue],
        attribute: [{ name: 'to', type: 2, i: FLOAT }],
      });
    }
    const x = w.kind === 'linear' ? `x_${w.in}` : `c_${w.in}`;
    if (!inputs.has(x)) {
      inputs.add(x);
      const shape = w.kind === 'linear' ? [1, w.in] : [1, w.in, 8, 8];
      graph.input?.push({ name: x, type: { tensorType: { elemType: FLOAT, shape: { dim: shape.map((d) => ({ dimValue: d })) } } } });
    }
    const op = w.kind === 'linear' ? 'MatMul' : 'Conv';
    const attrs = w.kind === 'conv3' ? [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }] : [];
    graph.node?.push({ opType: op, name: `${scope(w.module)}/${op}`, input: [x, weightValue], output: [`y_${n}`], attribute: attrs });
    graph.output?.push({ name: `y_${n}`, type: { tensorType: { elemType: FLOAT } } });
  });
  closeSync(fd);
  const model = { irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph };
  writeFileSync(join(dir, 'model.onnx'), onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish());

  // The LoRA, float16 as most published ones are.
  const tensors: Parameters<typeof encodeSafetensors>[0] = {};
  const lora = weights.filter((w) => w.lora);
  for (const w of lora) {
    const key = `lora_unet_${w.module.replace(/\./g, '_')}`;
    const down = new Uint16Array(rank * w.in).fill(0x2000);
    const up = new Uint16Array(w.out * rank).fill(0x1c00);
    const conv = w.kind !== 'linear';
    tensors[`${key}.lora_down.weight`] = { dtype: 'F16', shape: conv ? [rank, w.in, 1, 1] : [rank, w.in], data: down };
    tensors[`${key}.lora_up.weight`] = { dtype: 'F16', shape: conv ? [w.out, rank, 1, 1] : [w.out, rank], data: up };
    tensors[`${key}.alpha`] = { dtype: 'F32', shape: [], data: Float32Array.of(rank / 2) };
  }
  writeFileSync(join(dir, 'lora.safetensors'), encodeSafetensors(tensors));
  return { params, loraModules: lora.length };
}

async function child(mode: 'base' | 'lora', dir: string): Promise<void> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const path = join(dir, 'model.onnx');
  let mergeMs = 0;
  let mergeCpuMs = 0;
  let matched = 0;
  let source: Parameters<typeof createSession>[0] = path;
  if (mode === 'lora') {
    const merger = new LoraMerger(await loadLoras([{ name: 'lora', weight: 0.8, path: join(dir, 'lora.safetensors') }]));
    source = await merger.source('unet', path);
    mergeMs = performance.now() - t0;
    const c = process.cpuUsage(cpu0);
    mergeCpuMs = (c.user + c.system) / 1000;
    matched = merger.finish('sd15-shape', 'unet')[0].matched;
  }
  const t1 = performance.now();
  const s = await createSession(source, { kind: 'cpu' }, 'unet');
  source = path; // drop the merged bytes: ONNX Runtime holds its own copy now
  const sessionMs = performance.now() - t1;
  global.gc?.();
  const rssAfter = process.memoryUsage().rss;
  await s.session.release();
  const peak = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ mode, mergeMs, mergeCpuMs, sessionMs, matched, peakMb: peak / 2 ** 20, rssAfterMb: rssAfter / 2 ** 20 }));
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { child: { type: 'string' }, fp32: { type: 'boolean' }, rank: { type: 'string' } },
  });
  if (values.child) return child(values.child as 'base' | 'lora', positionals[0]);
  const fp32 = values.fp32 ?? false;
  const rank = Number(values.rank ?? 32);
  const dir = mkdtempSync(join(tmpdir(), 'bench-lora-'));
  try {
    const t0 = performance.now();
    const { params, loraModules } = writeModel(dir, fp32, rank);
    const loraFlops = sd15Weights()
      .filter((w) => w.lora)
      .reduce((sum, w) => sum + 2 * w.out * w.in * rank, 0);
    console.log(`merge arithmetic: ${(loraFlops / 1e9).toFixed(1)} GFLOP (up · down for every module)`);
    console.log(
      `SD 1.5 UNet shape: ${(params / 1e6).toFixed(0)} M parameters, ${fp32 ? 'float32' : 'float16'} in model.onnx_data (${((params * (fp32 ? 4 : 2)) / 2 ** 30).toFixed(2)} GiB); LoRA rank ${rank} on ${loraModules} modules; written in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const script = fileURLToPath(import.meta.url);
    for (const mode of ['base', 'lora']) {
      const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, '--child', mode, dir], {
        encoding: 'utf8',
        env: { ...process.env, LOG_LEVEL: 'warn' },
      });
      if (r.status !== 0) throw new Error(`${mode} run failed: ${r.stderr}`);
      const m = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
      console.log(
        `${mode.padEnd(4)}  merge ${(m.mergeMs / 1000).toFixed(1)} s (CPU ${(m.mergeCpuMs / 1000).toFixed(1)} s), session ${(m.sessionMs / 1000).toFixed(1)} s, peak RSS ${m.peakMb.toFixed(0)} MiB, resident with the session ${m.rssAfterMb.toFixed(0)} MiB` +
          (mode === 'lora' ? `, ${m.matched} modules matched` : ''),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
