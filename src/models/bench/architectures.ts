// The real architectures' dimensions (from each model's own config.json files on the hub):
// what `npm run models -- create-bench` builds with random weights. `reduced` shrinks every
// width and depth of one of them while keeping its structure, for fast shape tests.

export const BENCH_ARCHS = ['sd15', 'sdxl', 'sd-turbo'] as const;
export type BenchArch = (typeof BENCH_ARCHS)[number];

export interface TextEncoderArch {
  part: 'text_encoder' | 'text_encoder_2';
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  activation: 'quick_gelu' | 'gelu';
  /** SDXL exports: hidden_states.0..N outputs (the pipeline reads the penultimate one). */
  hiddenStates: boolean;
  /** CLIPTextModelWithProjection's projection_dim. */
  projection?: number;
}

export interface UnetArch {
  /** block_out_channels. */
  channels: number[];
  /** Which down blocks have cross-attention (their up-block mirrors have it too). */
  attention: boolean[];
  /** Attention heads per block (diffusers' attention_head_dim, which is a head count in these configs). */
  heads: number[];
  /** transformer_layers_per_block (the mid block uses the last). */
  transformerDepth: number[];
  layersPerBlock: number;
  crossAttentionDim: number;
  /** Linear proj_in/proj_out (SD 2.x, SDXL) instead of 1×1 convolutions (SD 1.x). */
  linearProjection: boolean;
  /** SDXL's text_time added embedding: text_embeds width and addition_time_embed_dim. */
  textTime?: { pooled: number; timeEmbedDim: number };
  /** GroupNorm groups (32 everywhere). */
  groups: number;
  sampleSize: number;
}

export interface VaeArch {
  /** block_out_channels. */
  channels: number[];
  layersPerBlock: number;
  groups: number;
  scalingFactor: number;
  sampleSize: number;
}

export interface Architecture {
  arch: BenchArch;
  /** What model_index.json's _name_or_path says, so the family is detected as the real one's. */
  nameOrPath: string;
  sdxl: boolean;
  textEncoders: TextEncoderArch[];
  unet: UnetArch;
  vae: VaeArch;
  /** Vocabulary size the text encoders' embedding tables are built for (CLIP's: 49408). */
  vocabSize: number;
  scheduler: 'PNDMScheduler' | 'EulerDiscreteScheduler';
  predictionType: 'epsilon';
  timestepSpacing: 'leading' | 'trailing';
}

const CLIP_L: TextEncoderArch = {
  part: 'text_encoder',
  hidden: 768,
  layers: 12,
  heads: 12,
  intermediate: 3072,
  activation: 'quick_gelu',
  hiddenStates: false,
};

const SD_VAE: VaeArch = { channels: [128, 256, 512, 512], layersPerBlock: 2, groups: 32, scalingFactor: 0.18215, sampleSize: 512 };

export const ARCHITECTURES: Readonly<Record<BenchArch, Architecture>> = {
  // runwayml/stable-diffusion-v1-5: 859.52M UNet, CLIP ViT-L/14 text (123.06M), VAE 83.65M.
  sd15: {
    arch: 'sd15',
    nameOrPath: 'runwayml/stable-diffusion-v1-5',
    sdxl: false,
    textEncoders: [CLIP_L],
    unet: {
      channels: [320, 640, 1280, 1280],
      attention: [true, true, true, false],
      heads: [8, 8, 8, 8],
      transformerDepth: [1, 1, 1, 1],
      layersPerBlock: 2,
      crossAttentionDim: 768,
      linearProjection: false,
      groups: 32,
      sampleSize: 64,
    },
    vae: SD_VAE,
    vocabSize: 49408,
    scheduler: 'PNDMScheduler',
    predictionType: 'epsilon',
    timestepSpacing: 'leading',
  },
  // stabilityai/sd-turbo (SD 2.1's architecture): 865.91M UNet, OpenCLIP ViT-H text with 23 layers (340.39M).
  'sd-turbo': {
    arch: 'sd-turbo',
    nameOrPath: 'stabilityai/sd-turbo',
    sdxl: false,
    textEncoders: [{ part: 'text_encoder', hidden: 1024, layers: 23, heads: 16, intermediate: 4096, activation: 'gelu', hiddenStates: false }],
    unet: {
      channels: [320, 640, 1280, 1280],
      attention: [true, true, true, false],
      heads: [5, 10, 20, 20],
      transformerDepth: [1, 1, 1, 1],
      layersPerBlock: 2,
      crossAttentionDim: 1024,
      linearProjection: true,
      groups: 32,
      sampleSize: 64,
    },
    vae: SD_VAE,
    vocabSize: 49408,
    scheduler: 'EulerDiscreteScheduler',
    predictionType: 'epsilon',
    timestepSpacing: 'trailing',
  },
  // stabilityai/stable-diffusion-xl-base-1.0: 2567.46M UNet, CLIP ViT-L (all 12 layers) + OpenCLIP bigG with projection (694.66M).
  sdxl: {
    arch: 'sdxl',
    nameOrPath: 'stabilityai/stable-diffusion-xl-base-1.0',
    sdxl: true,
    textEncoders: [
      { ...CLIP_L, hiddenStates: true },
      { part: 'text_encoder_2', hidden: 1280, layers: 32, heads: 20, intermediate: 5120, activation: 'gelu', hiddenStates: true, projection: 1280 },
    ],
    unet: {
      channels: [320, 640, 1280],
      attention: [false, true, true],
      heads: [5, 10, 20],
      transformerDepth: [1, 2, 10],
      layersPerBlock: 2,
      crossAttentionDim: 2048,
      linearProjection: true,
      textTime: { pooled: 1280, timeEmbedDim: 256 },
      groups: 32,
      sampleSize: 128,
    },
    vae: { ...SD_VAE, scalingFactor: 0.13025, sampleSize: 1024 },
    vocabSize: 49408,
    scheduler: 'EulerDiscreteScheduler',
    predictionType: 'epsilon',
    timestepSpacing: 'leading',
  },
};

/**
 * The architecture with every width divided by `factor` (with fewer heads and groups, so head
 * and group sizes stay whole) and transformer depths capped at 2: the same graph structure in a
 * few megabytes. `factor` must divide the widths: 16 works for every architecture here.
 */
export function reducedArchitecture(arch: BenchArch, factor: number, vocabSize: number): Architecture {
  const a = ARCHITECTURES[arch];
  const div = (n: number, what: string) => {
    if (n % factor !== 0) throw new Error(`${arch}: ${what} ${n} is not divisible by ${factor}`);
    return n / factor;
  };
  // 4 groups divide every reduced width (the narrowest is 320 / 16 = 20 channels).
  const groups = 4;
  return {
    ...a,
    vocabSize,
    textEncoders: a.textEncoders.map((te) => ({
      ...te,
      hidden: div(te.hidden, 'text width'),
      layers: Math.min(te.layers, 3),
      heads: Math.max(1, Math.round(te.heads / 4)),
      intermediate: div(te.intermediate, 'text MLP width'),
      projection: te.projection === undefined ? undefined : div(te.projection, 'projection'),
    })),
    unet: {
      ...a.unet,
      channels: a.unet.channels.map((c) => div(c, 'UNet channels')),
      heads: a.unet.heads.map(() => 2),
      transformerDepth: a.unet.transformerDepth.map((d) => Math.min(d, 2)),
      crossAttentionDim: a.textEncoders.reduce((sum, te) => sum + div(te.hidden, 'text width'), 0),
      textTime: a.unet.textTime
        ? { pooled: div(a.unet.textTime.pooled, 'pooled width'), timeEmbedDim: div(a.unet.textTime.timeEmbedDim, 'time embedding') }
        : undefined,
      groups,
    },
    vae: { ...a.vae, channels: a.vae.channels.map((c) => div(c, 'VAE channels')), groups },
  };
}
