// Dependency rules checked in CI (`npm run check:deps`): no import cycles, each outside library
// stays inside the layer that owns it, and folders only point down the architecture
// (bot/commands → queue → providers/diffusion/store). See README "Developer map".
const library = (name, allowed, why) => ({
  name: `${name.replace(/[^a-z]/g, '-')}-outside-its-layer`,
  comment: why,
  severity: 'error',
  from: { path: '^(src|commands)/', pathNot: allowed },
  to: { path: `(^|/)node_modules/${name.replace('.', '\\.')}/` },
});

const folder = (from, forbidden, why) => ({
  name: `no-upward-import-from-${from}`,
  comment: why,
  severity: 'error',
  from: { path: `^src/${from}/` },
  to: { path: `^(src/(${forbidden})/|commands/)` },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle makes load order matter and hides which module owns what.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    library('discord.js', '^(src/bot/|commands/|src/shard-manager\\.ts$)', 'Discord is the bot layer\'s business.'),
    library('onnxruntime-node', '^src/diffusion/', 'ONNX Runtime is the engine\'s business.'),
    library('bullmq', '^src/queue/redis-', 'BullMQ is the Redis backend\'s business.'),
    library('ioredis', '^src/queue/redis-', 'Redis connections belong to the Redis backend.'),
    library('@google/genai', '^src/providers/', 'The Google SDK stays inside the cloud provider.'),
    library('better-sqlite3', '^src/store/', 'SQLite is the store\'s business.'),
    library('fastify', '^src/api/', 'The HTTP framework is the API layer\'s business.'),
    {
      name: 'fastify-plugins-outside-the-api',
      comment: 'fastify plugins and the zod type provider belong with fastify, in src/api.',
      severity: 'error',
      from: { path: '^(src|commands)/', pathNot: '^src/api/' },
      to: { path: '(^|/)node_modules/(@fastify/|fastify-type-provider-zod/)' },
    },
    folder('diffusion', 'bot|queue|store|settings|providers|cli|api', 'The engine knows nothing of jobs, Discord or storage.'),
    folder('store', 'bot|queue|settings|providers|cli|api', 'The store holds records; it does not call up into the layers that use it.'),
    folder('providers', 'bot|queue|settings|store|cli|api', 'A provider draws pictures; queueing and bookkeeping live in queue/.'),
    folder('config', 'bot|queue|settings|providers|store|cli|api', 'Config parsing is a leaf: everything reads it, it reads nothing above.'),
    folder('queue', 'bot|settings|cli|api', 'The queue serves the bot; it must not know the bot.'),
    folder('settings', 'bot|cli|api', 'Server settings are domain rules the bot uses, not the other way round.'),
    folder('bot', 'api|cli', 'The bot and the HTTP API are two doors side by side; neither calls into the other.'),
    folder('models', 'bot|queue|settings|providers|store|cli|api', 'Model tooling writes and fetches model folders only.'),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};
