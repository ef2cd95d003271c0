// `npm run models -- <command>`: manage model folders. `pull` fetches an ONNX export from the
// Hugging Face hub, `list` shows what is in MODELS_DIR, `create-tiny` writes a random-weight
// model for tests, `create-bench` a full-size one for benchmarks. New commands go in the
// SUBCOMMANDS table.
import '../config/load-env.js'; // HF_TOKEN, MODELS_DIR … may live in .env; real env vars win
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_HF_ENDPOINT, defaultModelName, pullModel, repoIdSchema } from '../models/hub.js';
import { createPullReporter, formatBytes } from '../models/hub-progress.js';

/** Bad command-line input: shown with a pointer to `help`. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface Subcommand {
  usage: string;
  summary: string;
  run: (argv: string[]) => Promise<void>;
}

function modelsDir(): string {
  return resolve(process.env.MODELS_DIR || 'models');
}

/** The first zod issue as one line, e.g. `--timestep: Invalid option: expected one of …`. */
function zodMessage(error: z.ZodError, names: Record<string, string> = {}): string {
  const issue = error.issues[0];
  const key = String(issue?.path[0] ?? '');
  const where = names[key] ?? (key ? `--${key}` : '');
  return `${where ? `${where}: ` : ''}${issue?.message ?? 'invalid arguments'}`;
}

// ---- pull -------------------------------------------------------------------------------

const pullArgsSchema = z.object({
  repo: repoIdSchema,
  revision: z.string().min(1).default('main'),
  dir: z.string().min(1).optional(),
  include: z.array(z.string().min(1)).optional(),
});

const hubEnvSchema = z.object({
  HF_ENDPOINT: z.url({ protocol: /^https?$/, error: 'HF_ENDPOINT must be an http(s) URL such as https://huggingface.co' }).default(DEFAULT_HF_ENDPOINT),
  HF_TOKEN: z.string().optional(),
});

async function pull(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      revision: { type: 'string', short: 'r' },
      dir: { type: 'string', short: 'd' },
      include: { type: 'string', multiple: true },
    },
  });
  if (positionals.length !== 1) throw new UsageError('pull takes one repo id, e.g. `pull onnxruntime/sd-turbo`');
  const args = pullArgsSchema.safeParse({ ...values, repo: positionals[0] });
  if (!args.success) throw new UsageError(zodMessage(args.error, { repo: 'repo id' }));
  const env = hubEnvSchema.safeParse({
    HF_ENDPOINT: process.env.HF_ENDPOINT || undefined,
    // HUGGING_FACE_HUB_TOKEN is the older name huggingface_hub still reads.
    HF_TOKEN: process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN || undefined,
  });
  if (!env.success) throw new UsageError(zodMessage(env.error, { HF_ENDPOINT: '', HF_TOKEN: 'HF_TOKEN' }));

  const { repo, revision, include } = args.data;
  const dest = resolve(args.data.dir ?? join(modelsDir(), defaultModelName(repo)));
  const reporter = createPullReporter(process.stdout);
  // Ctrl-C leaves the .part files in place; the same command resumes them.
  const onSigint = (): void => {
    reporter.stop();
    process.stderr.write('\nInterrupted: run the same command again to resume.\n');
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  try {
    const result = await pullModel(repo, {
      revision,
      dest,
      endpoint: env.data.HF_ENDPOINT,
      token: env.data.HF_TOKEN,
      include,
      onProgress: reporter.onProgress,
      onEvent: reporter.onEvent,
    });
    reporter.stop();
    console.log(
      `Pulled ${repo}@${revision} into ${dest}: ${result.files.length} files, ${formatBytes(result.bytes)} ` +
        `(${formatBytes(result.downloadedBytes)} downloaded).`,
    );
  } finally {
    reporter.stop();
    process.removeListener('SIGINT', onSigint);
  }
}

// ---- list -------------------------------------------------------------------------------

const modelIndexSchema = z.looseObject({
  _class_name: z.string().optional(),
  _diffusers_version: z.string().optional(),
  scheduler: z.tuple([z.string().nullable(), z.string().nullable()]).optional(),
});

/** Bytes under a folder, and how many unfinished `.part` downloads it holds. */
async function folderUsage(dir: string): Promise<{ bytes: number; parts: number }> {
  let bytes = 0;
  let parts = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = await folderUsage(path);
      bytes += sub.bytes;
      parts += sub.parts;
    } else if (entry.isFile()) {
      bytes += (await stat(path)).size;
      if (entry.name.endsWith('.part')) parts++;
    }
  }
  return { bytes, parts };
}

const PIPELINE_PARTS = ['text_encoder', 'text_encoder_2', 'text_encoder_3', 'unet', 'transformer', 'vae_decoder', 'vae_encoder', 'safety_checker'];

async function summarize(dir: string): Promise<string> {
  const indexPath = join(dir, 'model_index.json');
  if (!existsSync(indexPath)) return 'not a model folder (no model_index.json)';
  let index: z.infer<typeof modelIndexSchema>;
  try {
    const parsed = modelIndexSchema.safeParse(JSON.parse(await readFile(indexPath, 'utf8')));
    if (!parsed.success) return `unreadable model_index.json (${zodMessage(parsed.error)})`;
    index = parsed.data;
  } catch (err) {
    return `unreadable model_index.json (${err instanceof Error ? err.message : String(err)})`;
  }
  const parts = PIPELINE_PARTS.filter((p) => existsSync(join(dir, p, 'model.onnx')));
  const bits = [index._class_name ?? 'unknown pipeline', index.scheduler?.[1] ?? undefined, parts.length > 0 ? `parts: ${parts.join(' ')}` : 'no ONNX parts'];
  return bits.filter(Boolean).join(', ');
}

async function list(argv: string[]): Promise<void> {
  parseArgs({ args: argv, allowPositionals: false, options: {} });
  const root = modelsDir();
  const entries = existsSync(root) ? (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory()) : [];
  if (entries.length === 0) {
    console.log(`No models in ${root}. Get one with \`npm run models -- pull onnxruntime/sd-turbo\`.`);
    return;
  }
  const rows: [string, string, string][] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const dir = join(root, entry.name);
    const usage = await folderUsage(dir);
    let summary = await summarize(dir);
    if (usage.parts > 0) summary += ` (incomplete: ${usage.parts} .part file${usage.parts > 1 ? 's' : ''}, run pull again)`;
    rows.push([entry.name, formatBytes(usage.bytes), summary]);
  }
  const nameWidth = Math.max(4, ...rows.map((r) => r[0].length));
  const sizeWidth = Math.max(4, ...rows.map((r) => r[1].length));
  console.log(`${'NAME'.padEnd(nameWidth)}  ${'SIZE'.padStart(sizeWidth)}  SUMMARY`);
  for (const [name, size, summary] of rows) console.log(`${name.padEnd(nameWidth)}  ${size.padStart(sizeWidth)}  ${summary}`);
}

// ---- create-tiny ------------------------------------------------------------------------

const createTinyArgsSchema = z.object({
  dir: z.string({ error: 'create-tiny needs a target folder, e.g. `create-tiny models/tiny`' }).min(1),
  layout: z.enum(['sd', 'sdxl', 'lcm', 'sdxl-lcm', 'sd3']).optional(),
  'no-t5': z.boolean().optional(),
  fp16: z.boolean().optional(),
  timestep: z.enum(['int64', 'float', 'float-scalar']).optional(),
  'vae-encoder': z.enum(['latent_sample', 'latent_parameters']).optional(),
  'v-prediction': z.boolean().optional(),
  'external-data': z.boolean().optional(),
  inpainting: z.boolean().optional(),
  'export-names': z.boolean().optional(),
  'controlnet-unet': z.boolean().optional(),
  // never | always | a number t: flags pictures whose CLIP-normalised mean exceeds t.
  'safety-checker': z
    .string()
    .regex(/^(never|always|-?\d+(\.\d+)?)$/, 'use never, always or a number (flag when the CLIP input mean exceeds it)')
    .transform((v) => (v === 'never' || v === 'always' ? v : { meanAbove: Number(v) }))
    .optional(),
});

async function createTiny(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      layout: { type: 'string' },
      'no-t5': { type: 'boolean' },
      fp16: { type: 'boolean' },
      timestep: { type: 'string' },
      'vae-encoder': { type: 'string' },
      'v-prediction': { type: 'boolean' },
      'external-data': { type: 'boolean' },
      inpainting: { type: 'boolean' },
      'export-names': { type: 'boolean' },
      'controlnet-unet': { type: 'boolean' },
      'safety-checker': { type: 'string' },
    },
  });
  if (positionals.length > 1) throw new UsageError('create-tiny takes one folder');
  const args = createTinyArgsSchema.safeParse({ ...values, dir: positionals[0] });
  if (!args.success) throw new UsageError(zodMessage(args.error, { dir: 'folder' }));
  const a = args.data;
  // Loaded on demand so `pull` and `list` do not pay for (or depend on) the ONNX writer.
  const { createTinyModel } = await import('../models/tiny/index.js');
  const dir = resolve(a.dir);
  await createTinyModel(dir, {
    layout: a.layout,
    t5: a['no-t5'] ? false : undefined,
    float16: a.fp16,
    timestep: a.timestep,
    vaeEncoderOutput: a['vae-encoder'],
    predictionType: a['v-prediction'] ? 'v_prediction' : undefined,
    externalData: a['external-data'],
    inpainting: a.inpainting,
    controlnetUnet: a['controlnet-unet'],
    safetyChecker: a['safety-checker'],
    exportNames: a['export-names'],
  });
  console.log(`Created a tiny random-weight model in ${dir}.`);
}

// ---- create-tiny-embedding --------------------------------------------------------------

async function createTinyEmbeddingCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { model: { type: 'string' }, vectors: { type: 'string' } } });
  const file = positionals[0];
  if (positionals.length !== 1 || !file || !/\.safetensors$/i.test(file)) throw new UsageError('create-tiny-embedding takes one .safetensors file');
  if (!values.model) throw new UsageError('--model DIR is required: the model folder the embedding is for');
  const vectors = values.vectors === undefined ? undefined : Number(values.vectors);
  const { createTinyEmbedding } = await import('../models/tiny/lora.js');
  const made = await createTinyEmbedding(resolve(file), { model: resolve(values.model), vectors });
  console.log(`Created a tiny random embedding (${made.vectors} vectors) in ${resolve(file)}; write its file name in a prompt to use it.`);
}

// ---- create-tiny-lora -------------------------------------------------------------------

const createTinyLoraArgsSchema = z.object({
  file: z
    .string({ error: 'create-tiny-lora needs a target file, e.g. `create-tiny-lora models/loras/tiny.safetensors --model models/tiny`' })
    .regex(/\.safetensors$/i, 'the LoRA file must end in .safetensors'),
  model: z.string({ error: '--model DIR is required: the model folder the LoRA is for' }).min(1),
  format: z.enum(['kohya', 'peft'], { error: '--format must be kohya or peft' }).optional(),
  rank: z.coerce.number().int().min(1).max(64).optional(),
  seed: z.coerce.number().int().min(0).optional(),
});

async function createTinyLoraCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { model: { type: 'string' }, format: { type: 'string' }, rank: { type: 'string' }, seed: { type: 'string' } },
  });
  if (positionals.length > 1) throw new UsageError('create-tiny-lora takes one file');
  const args = createTinyLoraArgsSchema.safeParse({ ...values, file: positionals[0] });
  if (!args.success) throw new UsageError(zodMessage(args.error, { file: 'file' }));
  const { createTinyLora } = await import('../models/tiny/lora.js');
  const file = resolve(args.data.file);
  const { modules } = await createTinyLora(file, { model: resolve(args.data.model), format: args.data.format, rank: args.data.rank, seed: args.data.seed });
  console.log(`Created a tiny random ${args.data.format ?? 'kohya'} LoRA with ${modules} modules in ${file}.`);
}

// ---- create-tiny-upscaler ---------------------------------------------------------------

const createTinyUpscalerArgsSchema = z.object({
  dir: z.string({ error: 'create-tiny-upscaler needs a target folder, e.g. `create-tiny-upscaler models/upscalers/tiny-x4`' }).min(1),
  scale: z.enum(['2', '4'], { error: '--scale must be 2 or 4' }).optional(),
  fp16: z.boolean().optional(),
});

async function createTinyUpscalerCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { scale: { type: 'string' }, fp16: { type: 'boolean' } },
  });
  if (positionals.length > 1) throw new UsageError('create-tiny-upscaler takes one folder');
  const args = createTinyUpscalerArgsSchema.safeParse({ ...values, dir: positionals[0] });
  if (!args.success) throw new UsageError(zodMessage(args.error, { dir: 'folder' }));
  const { createTinyUpscaler } = await import('../models/tiny/upscaler.js');
  const dir = resolve(args.data.dir);
  const scale = args.data.scale === '2' ? 2 : 4;
  await createTinyUpscaler(dir, { scale, float16: args.data.fp16 });
  console.log(`Created a tiny random-weight ${scale}× upscaler in ${dir}.`);
}

// ---- create-bench -----------------------------------------------------------------------

const createBenchArgsSchema = z.object({
  dir: z.string({ error: 'create-bench needs a target folder, e.g. `create-bench models/bench-sd15 --arch sd15`' }).min(1),
  arch: z.enum(['sd15', 'sdxl', 'sd-turbo'], { error: 'must be sd15, sdxl or sd-turbo' }),
  fp16: z.boolean().optional(),
  seed: z.coerce.number().int().min(0).max(0xffffffff).optional(),
});

async function createBench(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { arch: { type: 'string' }, fp16: { type: 'boolean' }, seed: { type: 'string' } },
  });
  if (positionals.length > 1) throw new UsageError('create-bench takes one folder');
  const args = createBenchArgsSchema.safeParse({ ...values, dir: positionals[0] });
  if (!args.success) throw new UsageError(zodMessage(args.error, { dir: 'folder' }));
  const a = args.data;
  const { createBenchModel } = await import('../models/bench/index.js');
  const dir = resolve(a.dir);
  const started = performance.now();
  await createBenchModel(dir, {
    arch: a.arch,
    float16: a.fp16,
    seed: a.seed,
    onPart: (p) =>
      console.log(
        `  ${p.part.padEnd(15)} ${(p.parameters / 1e6).toFixed(2).padStart(8)}M parameters  ${formatBytes(p.bytes).padStart(9)}  ${(p.ms / 1000).toFixed(1)} s`,
      ),
  });
  console.log(
    `Created a full-size random-weight ${a.arch}${a.fp16 ? ' (fp16)' : ''} model in ${dir} in ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  );
}

// ---- create-tiny-controlnet ------------------------------------------------------------

const createTinyControlNetArgsSchema = z.object({
  dir: z.string({ error: 'create-tiny-controlnet needs a target folder, e.g. `create-tiny-controlnet models/controlnets/tiny --model models/tiny`' }).min(1),
  model: z.string({ error: 'create-tiny-controlnet needs --model <dir>: the tiny ControlNet-ready model it feeds' }).min(1),
  'scale-input': z.boolean().optional(),
});

async function createTinyControlNetCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { model: { type: 'string' }, 'scale-input': { type: 'boolean' } },
  });
  if (positionals.length > 1) throw new UsageError('create-tiny-controlnet takes one folder');
  const args = createTinyControlNetArgsSchema.safeParse({ ...values, dir: positionals[0] });
  if (!args.success) throw new UsageError(zodMessage(args.error, { dir: 'folder' }));
  const { createTinyControlNet } = await import('../models/tiny/controlnet.js');
  const dir = resolve(args.data.dir);
  await createTinyControlNet(dir, { model: resolve(args.data.model), scaleInput: args.data['scale-input'] });
  console.log(`Created a tiny random-weight ControlNet for ${args.data.model} in ${dir}.`);
}

// ---- table and entry --------------------------------------------------------------------

const SUBCOMMANDS: Record<string, Subcommand> = {
  pull: {
    usage: 'pull <owner/name> [--revision r] [--dir models/<name>] [--include glob]…',
    summary:
      'download an ONNX Stable Diffusion export from the Hugging Face hub (resumable, sha256-checked). ' +
      'Env: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN for private or gated repos.',
    run: pull,
  },
  list: {
    usage: 'list',
    summary: 'show the model folders in MODELS_DIR (default ./models) with size and pipeline summary',
    run: list,
  },
  'create-tiny': {
    usage:
      'create-tiny <dir> [--layout sd|sdxl|lcm|sdxl-lcm|sd3] [--no-t5] [--fp16] [--timestep int64|float|float-scalar] [--vae-encoder latent_sample|latent_parameters] [--v-prediction] [--external-data] [--inpainting] [--export-names] [--controlnet-unet] [--safety-checker never|always|<mean>]',
    summary: 'write a tiny random-weight model (for tests and trying the bot without a download)',
    run: createTiny,
  },
  'create-tiny-upscaler': {
    usage: 'create-tiny-upscaler <dir> [--scale 2|4] [--fp16]',
    summary: 'write a tiny random-weight Real-ESRGAN-style upscaler (put it in MODELS_DIR/upscalers/<name>)',
    run: createTinyUpscalerCommand,
  },
  'create-tiny-lora': {
    usage: 'create-tiny-lora <file.safetensors> --model <dir> [--format kohya|peft] [--rank r] [--seed n]',
    summary: 'write a tiny random LoRA for a model with weight names (create-tiny --export-names); put it in MODELS_DIR/loras',
    run: createTinyLoraCommand,
  },
  'create-tiny-embedding': {
    usage: 'create-tiny-embedding <file.safetensors> --model <dir> [--vectors n]',
    summary: 'write a tiny random textual-inversion embedding for a model; put it in MODELS_DIR/embeddings',
    run: createTinyEmbeddingCommand,
  },
  'create-bench': {
    usage: 'create-bench <dir> --arch sd15|sdxl|sd-turbo [--fp16] [--seed n]',
    summary:
      'write a full-size random-weight model with the real architecture (SD 1.5: 860M UNet parameters, 4 GB; SDXL 2.6B, 14 GB) for `npm run bench -- --model <dir>`',
    run: createBench,
  },
  'create-tiny-controlnet': {
    usage: 'create-tiny-controlnet <dir> --model <dir> [--scale-input]',
    summary: 'write a tiny random-weight ControlNet for a tiny model made with --controlnet-unet (put it in MODELS_DIR/controlnets/<name>)',
    run: createTinyControlNetCommand,
  },
  help: {
    usage: 'help',
    summary: 'show this text',
    run: async () => console.log(helpText()),
  },
};

function helpText(): string {
  const lines = ['Usage: npm run models -- <command> [options]', ''];
  for (const cmd of Object.values(SUBCOMMANDS)) lines.push(`  ${cmd.usage}`, `      ${cmd.summary}`);
  return lines.join('\n');
}

/** Error messages kept to one line: the process prints them instead of a stack trace. */
function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

async function main(argv: string[]): Promise<void> {
  const [name = 'help', ...rest] = argv;
  const cmd = ['-h', '--help'].includes(name) ? SUBCOMMANDS.help : SUBCOMMANDS[name];
  if (!cmd) throw new UsageError(`unknown command "${name}" (commands: ${Object.keys(SUBCOMMANDS).join(', ')})`);
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`Usage: npm run models -- ${cmd.usage}\n  ${cmd.summary}`);
    return;
  }
  await cmd.run(rest);
}

function isUsageProblem(err: unknown): boolean {
  return err instanceof UsageError || String((err as { code?: unknown })?.code ?? '').startsWith('ERR_PARSE_ARGS');
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const hint = isUsageProblem(err) ? ' (see `npm run models -- help`)' : '';
  process.stderr.write(`models: ${oneLine(err)}${hint}\n`);
  // HubErrors and usage errors are complete as one line; DEBUG shows where anything came from.
  if (process.env.DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
});
