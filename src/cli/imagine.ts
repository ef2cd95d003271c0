// `npm run imagine -- "prompt" --out file.png`: one generation from the command line, with a
// progress bar, for trying a model without Discord.
import '../config/load-env.js';
import { parseArgs } from 'node:util';
import { readFile, rename, writeFile, unlink } from 'node:fs/promises';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, basename, resolve } from 'node:path';
import { randomInt } from 'node:crypto';
import cliProgress from 'cli-progress';
import { z } from 'zod';
import { loadPipeline } from '../diffusion/pipeline.js';
import { isUserFacingError } from '../diffusion/errors.js';
import { CONTROL_PREPROCESSORS, INPAINTING_FILLS, SCHEDULER_NAMES } from '../diffusion/types.js';
import { resolveControlNetDir } from '../diffusion/controlnet.js';
import { gridSizeForImage, imageSize } from '../diffusion/image-prep.js';
import { engineSettingsFromEnv } from '../diffusion/engine-settings.js';
import { loraSpecsFor, loraSpecsFromArgs } from '../diffusion/lora/choices.js';
import { listEmbeddings } from '../diffusion/embeddings.js';
import { postProcess } from './imagine-post.js';

const USAGE = `Usage: npm run imagine -- "prompt" --out file.png [options]
  --model dir        model folder (default: the first folder in $MODELS_DIR or ./models)
  --steps n          denoising steps (num_inference_steps; default: the model's); with --hires
                     also the hires pass's schedule (at least 4), of which strength × steps run
  --seed n           seed of the first image (default, or -1 as in A1111: random)
  --scheduler name   ${SCHEDULER_NAMES.join(' | ')}
  --guidance g       guidance_scale (default: the model's)
  --size WxH         image size, multiples of 8 (default: the model's; with --image, the image's
                     aspect at about the model's area, multiples of 64)
  --negative text    negative prompt
  --count n          images, 1–8 (seeds seed, seed+1, …); files get -1, -2 … suffixes
  --image file       input image for image-to-image (any PNG/JPEG/WebP; cropped to --size)
  --strength s       how much of --image to redo, 0–1 (default 0.75; 1 with --mask)
  --mask file        inpainting mask for --image: white = repaint, black = keep (any size)
  --mask-blur px     feathers the mask edge (Gaussian sigma in pixels, default 0)
  --mask-fill f      what the masked part starts from: original (default, the input) | fill
                     (its surroundings' colours) | latent_noise | latent_nothing (A1111's
                     "Masked content")
  --inpaint-area a   whole (default) | masked: inpaint only the crop around the mask, scaled to
                     --size, then pasted back (A1111's "Only masked")
  --inpaint-padding px
                     pixels around the mask's box for --inpaint-area masked, 0–256 (default 32)
  --lora f[:w]       a LoRA (.safetensors file, or a name in $MODELS_DIR/loras) at weight w
                     (default 1; repeatable); <lora:name:w> in the prompt works too
  --control-image f  ControlNet input: a photo (for --control canny) or a ready map (--control none)
  --controlnet name  a folder of $MODELS_DIR/controlnets, or a path to one (needs a ControlNet-ready UNet)
  --control p        canny (default; thresholds 100/200) | none
  --control-scale s  controlnet_conditioning_scale, 0–2 (default 1; 0 = the plain picture)
  --control-start a, --control-end b
                     the fraction of the steps it acts on (default 0 and 1)
  --device d         cpu | cuda | cuda:N | webgpu (default: cpu)
  --hires            creative upscale: Lanczos 2×, then image-to-image at strength 0.3
  --upscale 2|4      upscale the result (after --hires) with the upscaler model, else Lanczos
  --upscaler dir     upscaler folder with model.onnx (default: UPSCALER, or the only one in $MODELS_DIR/upscalers)
Memory options come from the environment: LOW_MEMORY, RELEASE_SESSIONS, VAE_SLICING, VAE_TILING (see README).`;

const argsSchema = z.object({
  prompt: z.string({ error: 'a prompt is required' }).trim().min(1, 'a prompt is required (it is empty or only spaces)'),
  out: z.string({ error: '--out file.png is required' }),
  model: z.string().optional(),
  steps: z.coerce.number({ error: '--steps must be a whole number' }).int('--steps must be a whole number').min(1, '--steps must be at least 1').optional(),
  seed: z.coerce
    .number({ error: '--seed must be a whole number' })
    .int('--seed must be a whole number')
    .min(-1, '--seed must be 0 or more (-1: random)')
    .max(2 ** 32 - 1, '--seed must be below 2^32')
    .optional(),
  scheduler: z.enum(SCHEDULER_NAMES).optional(),
  guidance: z.coerce.number().min(0).optional(),
  size: z
    .string()
    .regex(/^\d+x\d+$/i, '--size must look like 512x512')
    .optional(),
  negative: z.string().optional(),
  count: z.coerce
    .number({ error: '--count must be a whole number' })
    .int('--count must be a whole number')
    .min(1, '--count must be 1 to 8')
    .max(8, '--count must be 1 to 8')
    .default(1),
  image: z.string().optional(),
  strength: z.coerce.number().min(0).max(1).optional(),
  mask: z.string().optional(),
  'mask-blur': z.coerce.number().min(0).optional(),
  'mask-fill': z.enum(INPAINTING_FILLS, { error: `--mask-fill must be one of ${INPAINTING_FILLS.join(', ')}` }).optional(),
  'inpaint-area': z.enum(['whole', 'masked'], { error: '--inpaint-area must be whole or masked' }).optional(),
  'inpaint-padding': z.coerce
    .number({ error: '--inpaint-padding must be a number' })
    .int('--inpaint-padding must be a whole number of pixels')
    .min(0, '--inpaint-padding must be 0 to 256')
    .max(256, '--inpaint-padding must be 0 to 256')
    .optional(),
  // --- ControlNet ---
  'control-image': z.string().optional(),
  controlnet: z.string().min(1).optional(),
  control: z.enum(CONTROL_PREPROCESSORS, { error: `--control must be ${CONTROL_PREPROCESSORS.join(' or ')}` }).optional(),
  'control-scale': z.coerce.number({ error: '--control-scale must be a number' }).optional(),
  'control-start': z.coerce.number({ error: '--control-start must be a number' }).optional(),
  'control-end': z.coerce.number({ error: '--control-end must be a number' }).optional(),
  device: z.string().default('cpu'),
  hires: z.boolean().default(false),
  upscale: z
    .enum(['2', '4'], { error: '--upscale must be 2 or 4' })
    .transform((v) => (v === '2' ? 2 : 4))
    .optional(),
  upscaler: z.string().optional(),
});

function defaultModel(): string {
  const root = resolve(process.env.MODELS_DIR ?? 'models');
  const found = existsSync(root)
    ? readdirSync(root)
        .filter((d) => existsSync(join(root, d, 'model_index.json')) && statSync(join(root, d)).isDirectory())
        .sort()
    : [];
  if (found.length === 0) {
    throw new Error(`No model in ${root}. Create a tiny one with "npm run models -- create-tiny models/tiny" or pass --model.`);
  }
  return join(root, found[0]);
}

function outPaths(out: string, count: number): string[] {
  if (count === 1) return [out];
  const ext = extname(out) || '.png';
  const stem = join(dirname(out), basename(out, ext));
  return Array.from({ length: count }, (_, i) => `${stem}-${i + 1}${ext}`);
}

const OPTIONS_WITH_VALUES = new Set([
  'out',
  'model',
  'steps',
  'seed',
  'scheduler',
  'guidance',
  'size',
  'negative',
  'count',
  'image',
  'strength',
  'mask',
  'mask-blur',
  'mask-fill',
  'inpaint-area',
  'inpaint-padding',
  'control-image',
  'controlnet',
  'control',
  'control-scale',
  'control-start',
  'control-end',
  'device',
  'upscale',
  'upscaler',
  'lora',
]);

/**
 * `--seed -1`, `--steps -3`: node's parseArgs reads a value starting with "-" as another option
 * ("argument is ambiguous"); join negative numbers to their option so they are validated as values.
 */
function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return [...out, ...argv.slice(i)];
    const next = argv[i + 1];
    if (arg.startsWith('--') && OPTIONS_WITH_VALUES.has(arg.slice(2)) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** Files named on the command line, checked before the model loads so a typo costs nothing. */
function checkPaths(a: {
  out: string;
  image?: string;
  mask?: string;
  'mask-fill'?: string;
  'inpaint-area'?: string;
  'inpaint-padding'?: number;
  upscaler?: string;
  'control-image'?: string;
  controlnet?: string;
}): void {
  if (!/\.png$/i.test(a.out)) throw new Error('--out must name a .png file');
  const folder = dirname(resolve(a.out));
  if (!existsSync(folder) || !statSync(folder).isDirectory())
    throw new Error(`--out: the folder ${folder} does not exist; create it first (mkdir -p ${folder})`);
  if (a.mask && !a.image) throw new Error('--mask needs --image: the mask marks which part of that picture to repaint');
  if (a['mask-fill'] && !a.mask) throw new Error('--mask-fill needs --mask: it says what the masked part starts from');
  if (a['inpaint-area'] === 'masked' && !a.mask) throw new Error('--inpaint-area masked needs --mask: the crop is the box around the mask');
  if (a['inpaint-padding'] !== undefined && a['inpaint-area'] !== 'masked') throw new Error('--inpaint-padding needs --inpaint-area masked');
  if (a.controlnet && !a['control-image']) throw new Error('--controlnet needs --control-image: the picture it follows');
  if (a['control-image'] && !a.controlnet) throw new Error('--control-image needs --controlnet: the ControlNet that reads it');
  for (const [flag, file] of [
    ['--image', a.image],
    ['--mask', a.mask],
    ['--control-image', a['control-image']],
  ] as const) {
    if (file !== undefined && !(existsSync(file) && statSync(file).isFile())) throw new Error(`${flag}: no such file: ${file}`);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: joinNegativeValues(process.argv.slice(2)),
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      model: { type: 'string', short: 'm' },
      steps: { type: 'string' },
      seed: { type: 'string' },
      scheduler: { type: 'string' },
      guidance: { type: 'string' },
      size: { type: 'string' },
      negative: { type: 'string' },
      count: { type: 'string' },
      image: { type: 'string' },
      strength: { type: 'string' },
      mask: { type: 'string' },
      'mask-blur': { type: 'string' },
      'mask-fill': { type: 'string' },
      'inpaint-area': { type: 'string' },
      'inpaint-padding': { type: 'string' },
      'control-image': { type: 'string' },
      controlnet: { type: 'string' },
      control: { type: 'string' },
      'control-scale': { type: 'string' },
      'control-start': { type: 'string' },
      'control-end': { type: 'string' },
      device: { type: 'string' },
      hires: { type: 'boolean' },
      upscale: { type: 'string' },
      upscaler: { type: 'string' },
      lora: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const { lora: loraArgs = [], ...rest } = values;
  const parsed = argsSchema.safeParse({ ...rest, prompt: positionals.join(' ') || undefined });
  if (!parsed.success) {
    throw new Error(
      `${parsed.error.issues.map((i) => (i.message.startsWith('--') ? i.message : `${i.path.join('.') || 'input'}: ${i.message}`)).join('; ')}\n${USAGE}`,
    );
  }
  const a = parsed.data;
  checkPaths(a);
  const [width, height] = a.size ? a.size.toLowerCase().split('x').map(Number) : [undefined, undefined];
  const modelDir = a.model ?? defaultModel();
  const seed = a.seed === undefined || a.seed === -1 ? randomInt(0, 2 ** 32) : a.seed;
  // Resolved before the model loads, so a misspelt ControlNet costs nothing.
  const controlnetDir = a.controlnet ? resolveControlNetDir(resolve(process.env.MODELS_DIR ?? 'models'), a.controlnet) : undefined;

  // --lora files and <lora:name:w> tags, resolved before the model loads so a typo costs nothing.
  const modelsDir = resolve(process.env.MODELS_DIR ?? 'models');
  const loras = loraSpecsFor({ prompt: a.prompt, negativePrompt: a.negative }, modelsDir, loraSpecsFromArgs(loraArgs, modelsDir));

  const loadStart = performance.now();
  const settings = engineSettingsFromEnv();
  const pipe = await loadPipeline(modelDir, { ...settings.pipeline, device: a.device, loras, embeddings: listEmbeddings(modelsDir) });
  const loadMs = performance.now() - loadStart;
  const initImage = a.image ? new Uint8Array(await readFile(a.image)) : undefined;
  const mask = a.mask ? new Uint8Array(await readFile(a.mask)) : undefined;
  const controlImage = a['control-image'] ? new Uint8Array(await readFile(a['control-image'])) : undefined;
  // No --size with --image: the image's own aspect ratio (image-prep.ts's grid rule).
  const fromImage = initImage && !a.size ? gridSizeForImage(await imageSize(initImage), pipe.defaults.width * pipe.defaults.height) : undefined;

  const bar = new cliProgress.SingleBar(
    { format: 'steps {bar} {value}/{total} | {duration_formatted} elapsed | eta {eta_formatted}', hideCursor: true, noTTYOutput: false },
    cliProgress.Presets.shades_classic,
  );
  let barStarted = false;
  const result = await pipe.generate(
    {
      prompt: a.prompt,
      negativePrompt: a.negative,
      seed,
      steps: a.steps ?? pipe.defaults.steps,
      guidanceScale: a.guidance ?? pipe.defaults.guidanceScale,
      width: width ?? fromImage?.width ?? pipe.defaults.width,
      height: height ?? fromImage?.height ?? pipe.defaults.height,
      count: a.count,
      scheduler: a.scheduler,
      initImage,
      strength: a.strength,
      mask,
      maskBlur: a['mask-blur'],
      inpaintingFill: a['mask-fill'],
      inpaintArea: a['inpaint-area'],
      inpaintPadding: a['inpaint-padding'],
      controlnet: controlnetDir
        ? { model: controlnetDir, preprocessor: a.control, scale: a['control-scale'], guidanceStart: a['control-start'], guidanceEnd: a['control-end'] }
        : undefined,
      controlImage,
    },
    {
      onProgress: (p) => {
        if (!barStarted) {
          bar.start(p.totalSteps, 0);
          barStarted = true;
        }
        bar.update(p.step);
      },
    },
  );
  if (barStarted) bar.stop();
  const post = await postProcess(
    pipe,
    { prompt: a.prompt, negativePrompt: a.negative, guidanceScale: a.guidance ?? pipe.defaults.guidanceScale, scheduler: a.scheduler },
    result.images,
    { hires: a.hires, hiresSteps: a.steps, upscale: a.upscale, upscalerDir: a.upscaler, device: a.device, settings },
  );

  const paths = outPaths(a.out, result.images.length);
  // Write beside the target and rename, so a crash never leaves a half-written PNG.
  for (let i = 0; i < paths.length; i++) {
    const tmp = `${paths[i]}.tmp-${process.pid}`;
    try {
      await writeFile(tmp, post.pngs[i]);
      await rename(tmp, paths[i]);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }
  const t = result.timings;
  const model = basename(pipe.modelDir);
  console.log(`model ${model} on ${pipe.device}, scheduler ${result.scheduler}, loaded in ${(loadMs / 1000).toFixed(2)} s`);
  for (const l of pipe.loras) {
    const skipped = l.unmatched.length
      ? `; ${l.unmatched.length} without a matching weight, skipped: ${l.unmatched.slice(0, 5).join(', ')}${l.unmatched.length > 5 ? ', …' : ''}`
      : '';
    console.log(`LoRA ${l.name} at ${l.weight}: ${l.matched} modules merged${skipped}`);
  }
  if (result.truncatedTokens > 0) console.log(`prompt truncated: ${result.truncatedTokens} tokens past the model's window were dropped`);
  for (let i = 0; i < paths.length; i++)
    console.log(`seed ${result.images[i].seed} → ${paths[i]}${result.images[i].nsfw ? ' (flagged by the safety checker)' : ''}`);
  for (const note of post.notes) console.log(note);
  console.log(
    `${t.stepMs.toFixed(1)} ms per step, ${(t.totalMs / 1000).toFixed(2)} s in all ` +
      `(text encoder ${t.textEncoderMs.toFixed(0)} ms, unet ${t.unetMs.toFixed(0)} ms, vae ${t.vaeMs.toFixed(0)} ms)`,
  );
  await pipe.dispose();
}

main().catch((err: unknown) => {
  const msg = err instanceof Error ? err.message : String(err);
  console.error(isUserFacingError(err) || !process.env.DEBUG ? `error: ${msg}` : err);
  process.exit(1);
});
