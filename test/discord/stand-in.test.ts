import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ActionRowBuilder,
  AttachmentBuilder,
  ButtonBuilder,
  ButtonStyle,
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  LabelBuilder,
  MessageFlags,
  ModalBuilder,
  Routes,
  SlashCommandBuilder,
  StringSelectMenuBuilder,
  TextInputBuilder,
  TextInputStyle,
  type Interaction,
} from 'discord.js';
import sharp from 'sharp';
import WebSocket from 'ws';
import zlib from 'node:zlib';
import { startDiscordStandIn, type DiscordStandIn } from '../support/discord/index.js';

// Self-test of the Discord stand-in: the real discord.js Client, unmodified, against it.

const MINUTE = 60_000;

const redPng = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 255, g: 0, b: 0 } } })
    .png()
    .toBuffer();

const commandDefinitions = [
  new SlashCommandBuilder()
    .setName('imagine')
    .setDescription('Generate an image')
    .addStringOption((o) => o.setName('prompt').setDescription('What to draw').setRequired(true))
    .addIntegerOption((o) => o.setName('steps').setDescription('Denoising steps').setMinValue(1).setMaxValue(50))
    .addStringOption((o) => o.setName('model').setDescription('Model').setAutocomplete(true))
    .addAttachmentOption((o) => o.setName('init').setDescription('Init image')),
  new SlashCommandBuilder().setName('slow').setDescription('Answers whenever the test says so'),
  new SlashCommandBuilder()
    .setName('admin')
    .setDescription('Server settings')
    .setDefaultMemberPermissions(1n << 5n)
    .addSubcommand((s) => s.setName('reset').setDescription('Reset settings')),
].map((c) => c.toJSON());

describe('Discord stand-in with a real discord.js Client', () => {
  let discord: DiscordStandIn;
  let client: Client;
  let onInteraction: (interaction: Interaction) => Promise<void> = async () => undefined;
  const handlerErrors: unknown[] = [];

  before(async () => {
    discord = await startDiscordStandIn({ heartbeatIntervalMs: 200 });
    client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.restUrl } });
    client.on(Events.InteractionCreate, (interaction) => {
      onInteraction(interaction).catch((error: unknown) => handlerErrors.push(error));
    });
    const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
    await client.login(discord.token);
    await ready;
  });

  after(async () => {
    await client.destroy();
    await discord.close();
  });

  test('logs in, gets READY and GUILD_CREATE with channels, roles and members', async () => {
    const guild = client.guilds.cache.get(discord.guild().id);
    assert.ok(guild, 'the client sees the configured guild');
    assert.equal(guild.name, 'Stand-in Guild');
    assert.equal(client.user?.id, discord.applicationId);
    assert.equal(client.application?.id, discord.applicationId);
    const nsfw = guild.channels.cache.get(discord.channel('nsfw-art').id);
    assert.equal(nsfw && 'nsfw' in nsfw ? nsfw.nsfw : undefined, true);
    assert.equal(guild.members.me?.permissions.has('AttachFiles'), true);
    assert.equal(guild.members.me?.permissions.has('ManageGuild'), false);
    assert.deepEqual(
      discord.gateway.identifies.map((i) => i.intents),
      [GatewayIntentBits.Guilds],
    );
    assert.equal(discord.requests[0]?.path, '/gateway/bot');
    assert.match(discord.requests[0]?.headers['user-agent'] ?? '', /DiscordBot/);
    // heartbeat_interval is 200 ms: the client must be beating and getting ACKs (ping turns >= 0).
    await discord.waitFor(() => (discord.gateway.activeSession()?.heartbeats ?? 0) >= 1 && client.ws.ping >= 0, 2000);
  });

  test('registers commands through REST and rejects an invalid one', async () => {
    const registered = await client.application!.commands.set(commandDefinitions);
    assert.deepEqual([...registered.values()].map((c) => c.name).sort(), ['admin', 'imagine', 'slow']);
    assert.deepEqual(
      discord.commands().map((c) => c.name),
      ['imagine', 'slow', 'admin'],
    );
    assert.equal(discord.requestsTo('PUT /applications/:app/commands').length, 1);
    const bad = { name: 'Bad Name', description: 'x' };
    await assert.rejects(client.application!.commands.create(bad), (error: unknown) => {
      assert.ok(error instanceof DiscordAPIError);
      assert.equal(error.code, 50035);
      assert.match(error.message, /name/);
      return true;
    });
  });

  test('slash command → deferReply, editReply with PNG + button, followUp, channel.send reply', async () => {
    const initPng = await redPng(8, 8);
    let downloaded: Buffer | undefined;
    onInteraction = async (interaction) => {
      if (!interaction.isChatInputCommand() || interaction.commandName !== 'imagine') return;
      await interaction.deferReply();
      const init = interaction.options.getAttachment('init', true);
      downloaded = Buffer.from(await (await fetch(init.url)).arrayBuffer());
      const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
        new ButtonBuilder().setCustomId('upscale:1').setLabel('Upscale').setStyle(ButtonStyle.Primary).setEmoji('🔍'),
        new ButtonBuilder().setCustomId('reroll').setLabel('Re-roll').setStyle(ButtonStyle.Secondary),
      );
      const reply = await interaction.editReply({
        content: `**${interaction.options.getString('prompt', true)}** (${interaction.options.getInteger('steps')} steps)`,
        files: [new AttachmentBuilder(await redPng(64, 48), { name: 'fox.png' })],
        components: [row],
      });
      await interaction.followUp({ content: 'Only you can see this', flags: MessageFlags.Ephemeral });
      const channel = interaction.channel;
      assert.ok(channel?.isSendable());
      await channel.send({ content: 'Saved to the gallery', reply: { messageReference: reply.id } });
    };

    const handle = await discord.slash('imagine', { prompt: 'a red fox', steps: 4, init: { filename: 'init.png', bytes: initPng } });
    const ack = await handle.ack();
    assert.equal(ack.type, 5);
    assert.ok(ack.latencyMs < 3000, `acknowledged in ${ack.latencyMs} ms`);
    const general = discord.channel('general').id;
    await discord.waitForMessage('general', (m) => m.content === 'Saved to the gallery');
    assert.deepEqual(handlerErrors, []);
    assert.deepEqual(downloaded, initPng, 'the bot downloaded the attachment from the stand-in');

    const original = handle.original()!;
    assert.equal(original.history.length, 2, 'thinking…, then the result');
    assert.equal(original.history[0].loading, true);
    assert.equal(original.loading, false);
    assert.equal(original.content, '**a red fox** (4 steps)');
    assert.equal(original.interaction?.name, 'imagine');
    assert.deepEqual(
      original.buttons.map((b) => [b.customId, b.label, b.styleName, b.emoji?.name]),
      [
        ['upscale:1', 'Upscale', 'Primary', '🔍'],
        ['reroll', 'Re-roll', 'Secondary', undefined],
      ],
    );
    const [image] = original.attachments;
    assert.equal(image.filename, 'fox.png');
    assert.equal(image.contentType, 'image/png');
    assert.deepEqual([image.width, image.height], [64, 48]);
    const { data, info } = await sharp(image.bytes).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, data[0], data[1], data[2]], [64, 48, 255, 0, 0]);

    const [followUp] = handle.followUps();
    assert.equal(followUp.ephemeral, true);
    assert.equal(followUp.content, 'Only you can see this');

    const channelView = discord.messages('general');
    assert.deepEqual(
      channelView.map((m) => m.content),
      ['**a red fox** (4 steps)', 'Saved to the gallery'],
    );
    assert.deepEqual(channelView[1].reference, { messageId: original.id, channelId: general, guildId: discord.guild().id });
    assert.equal(channelView[1].mentions.repliedUser, true);
    assert.equal(discord.messages('general', { visibleTo: 'alice' }).length, 3, 'alice also sees her ephemeral follow-up');
    const multipart = discord.requestsTo('PATCH /webhooks/:app/:token/messages/@original')[0];
    assert.equal(multipart.files[0]?.filename, 'fox.png');
  });

  test('autocomplete gets the choices the bot responds with', async () => {
    onInteraction = async (interaction) => {
      if (!interaction.isAutocomplete()) return;
      const typed = interaction.options.getFocused();
      await interaction.respond(['sd15', 'sdxl', 'flux'].filter((m) => m.startsWith(typed)).map((m) => ({ name: m, value: m })));
    };
    const handle = await discord.autocomplete('imagine', { prompt: 'x', model: 'sd' }, 'model');
    assert.deepEqual(
      (await handle.choices()).map((c) => c.value),
      ['sd15', 'sdxl'],
    );
  });

  test('a button click arrives as a ButtonInteraction; a second acknowledgement gets 40060', async () => {
    const original = discord.messages('general').find((m) => m.buttons.length > 0)!;
    let seen: { customId: string; messageId: string } | undefined;
    let secondAck: unknown;
    onInteraction = async (interaction) => {
      if (!interaction.isButton()) return;
      seen = { customId: interaction.customId, messageId: interaction.message.id };
      await interaction.update({ components: [] });
      secondAck = await client.rest
        .post(Routes.interactionCallback(interaction.id, interaction.token), { body: { type: 6 }, auth: false })
        .catch((error: unknown) => error);
    };
    const handle = await discord.clickButton(original, 'upscale:1');
    await discord.waitFor(() => secondAck, 3000);
    assert.deepEqual(seen, { customId: 'upscale:1', messageId: original.id });
    assert.equal(handle.response?.type, 7);
    assert.ok(secondAck instanceof DiscordAPIError);
    assert.equal(secondAck.code, 40060);
    const updated = discord.message(original.id)!;
    assert.equal(updated.buttons.length, 0);
    assert.equal(updated.edits, 2);
    assert.equal(updated.content, original.content);
    await assert.rejects(discord.clickButton(original, 'nope'), /no button "nope"/);
  });

  test('an injected 429 is retried by discord.js transparently', async () => {
    const channel = await client.channels.fetch(discord.channel('general').id);
    assert.ok(channel?.isSendable());
    discord.rateLimitNext('POST /channels/:id/messages', { retryAfterMs: 50 });
    const sent = await channel.send('after a 429');
    assert.equal(sent.content, 'after a 429');
    const attempts = discord.requestsTo('POST /channels/:id/messages').slice(-2);
    assert.deepEqual(
      attempts.map((r) => r.status),
      [429, 200],
    );
    assert.equal(attempts[0].rateLimited, 'injected');
    assert.deepEqual(attempts[0].response, { message: 'You are being rate limited.', retry_after: 0.05, global: false, code: 0 });
    assert.equal(attempts[0].responseHeaders['retry-after'], '0.050');
    assert.equal(attempts[1].responseHeaders['x-ratelimit-limit'], '50');
    assert.match(attempts[1].responseHeaders['x-ratelimit-bucket'] ?? '', /^[0-9a-f]{32}$/);
    await channel.sendTyping();
    assert.equal(discord.typingIn('general').length, 1);
    await sent.react('✅');
    assert.deepEqual(discord.message(sent.id)?.reactions, [{ emoji: '✅', count: 1, me: true }]);
  });

  test('Discord refuses invalid messages with its error codes', async () => {
    const channel = await client.channels.fetch(discord.channel('general').id);
    assert.ok(channel?.isSendable());
    await assert.rejects(channel.send('x'.repeat(2001)), (e: unknown) => e instanceof DiscordAPIError && e.code === 50035 && /content/.test(e.message));
    const dup = new ActionRowBuilder<ButtonBuilder>().addComponents(
      new ButtonBuilder().setCustomId('a').setLabel('A').setStyle(ButtonStyle.Primary),
      new ButtonBuilder().setCustomId('a').setLabel('B').setStyle(ButtonStyle.Primary),
    );
    await assert.rejects(channel.send({ content: 'dup', components: [dup] }), (e: unknown) => e instanceof DiscordAPIError && e.code === 50035);
  });

  test('uploads over the interaction attachment_size_limit get 413 / 40005', async () => {
    let result: unknown;
    onInteraction = async (interaction) => {
      if (!interaction.isChatInputCommand() || interaction.commandName !== 'imagine') return;
      assert.equal(interaction.attachmentSizeLimit, 1024);
      await interaction.deferReply();
      result = await interaction.editReply({ files: [new AttachmentBuilder(Buffer.alloc(2048, 1), { name: 'big.bin' })] }).catch((error: unknown) => error);
    };
    await discord.slash('imagine', { prompt: 'big' }, { attachmentSizeLimit: 1024 });
    await discord.waitFor(() => result, 3000);
    assert.ok(result instanceof DiscordAPIError);
    assert.deepEqual([result.status, result.code], [413, 40005]);
  });

  test('interactions not acknowledged within 3 s are unknown (10062)', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let result: unknown;
    onInteraction = async (interaction) => {
      if (!interaction.isChatInputCommand() || interaction.commandName !== 'slow') return;
      await released;
      result = await interaction.deferReply().catch((error: unknown) => error);
    };
    const handle = await discord.slash('slow');
    discord.clock.advance(3_500);
    assert.equal(handle.status, 'failed');
    release();
    await discord.waitFor(() => result, 3000);
    assert.ok(result instanceof DiscordAPIError);
    assert.equal(result.code, 10062);
    await assert.rejects(handle.ack({ timeoutMs: 100 }), /did not respond/);
  });

  test('interaction tokens expire after 15 minutes (50027)', async () => {
    let interactionRef: import('discord.js').ChatInputCommandInteraction | undefined;
    onInteraction = async (interaction) => {
      if (!interaction.isChatInputCommand() || interaction.commandName !== 'slow') return;
      await interaction.deferReply({ flags: MessageFlags.Ephemeral });
      interactionRef = interaction;
    };
    const handle = await discord.slash('slow');
    await discord.waitFor(() => interactionRef, 3000);
    assert.equal(handle.original()?.ephemeral, true);
    await interactionRef!.editReply('still in time');
    assert.equal((await interactionRef!.fetchReply()).content, 'still in time');
    discord.clock.advance(15 * MINUTE + 1);
    await assert.rejects(interactionRef!.editReply('too late'), (e: unknown) => e instanceof DiscordAPIError && e.status === 401 && e.code === 50027);
    assert.equal(handle.original()?.content, 'still in time');
  });

  test('editing a message older than an hour is refused (30046)', async () => {
    const channel = await client.channels.fetch(discord.channel('general').id);
    assert.ok(channel?.isSendable());
    const message = await channel.send('progress 10%');
    await message.edit('progress 50%');
    discord.clock.advance(61 * MINUTE);
    await assert.rejects(message.edit('progress 100%'), (e: unknown) => e instanceof DiscordAPIError && e.code === 30046);
    assert.deepEqual(
      discord.message(message.id)!.history.map((v) => v.content),
      ['progress 10%', 'progress 50%'],
    );
  });

  test('Discord-client checks: unregistered commands, hidden commands, missing required options', async () => {
    await assert.rejects(discord.slash('nope'), /not registered/);
    await assert.rejects(discord.slash('admin reset'), /default_member_permissions/);
    await assert.rejects(discord.slash('imagine', {}), /required option "prompt"/);
    await assert.rejects(discord.slash('imagine', { prompt: 'x', steps: 99 }), /<= 50/);
    let adminRan = false;
    let callbackMessage: string | undefined;
    onInteraction = async (interaction) => {
      if (!interaction.isChatInputCommand() || interaction.commandName !== 'admin') return;
      adminRan = interaction.options.getSubcommand() === 'reset' && interaction.memberPermissions?.has('ManageGuild') === true;
      const response = await interaction.reply({ content: 'Reset.', flags: MessageFlags.Ephemeral, withResponse: true });
      callbackMessage = response.resource?.message?.content;
    };
    const handle = await discord.slash('admin reset', {}, { user: 'mod' });
    await handle.waitForOriginal();
    await discord.waitFor(() => callbackMessage, 2000);
    assert.equal(adminRan, true);
    assert.equal(callbackMessage, 'Reset.');
    assert.equal(handle.original()?.ephemeral, true);
    assert.equal(
      discord.messages('general').some((m) => m.content === 'Reset.'),
      false,
      'ephemeral replies stay out of the channel',
    );
  });

  test('select menus and modals round-trip through the client', async () => {
    const events: string[] = [];
    onInteraction = async (interaction) => {
      if (interaction.isChatInputCommand() && interaction.commandName === 'slow') {
        const menu = new StringSelectMenuBuilder().setCustomId('size').addOptions({ label: 'Small', value: '512' }, { label: 'Large', value: '1024' });
        await interaction.reply({ content: 'Pick a size', components: [new ActionRowBuilder<StringSelectMenuBuilder>().addComponents(menu)] });
      } else if (interaction.isStringSelectMenu()) {
        events.push(`select:${interaction.values.join(',')}`);
        await interaction.showModal(
          new ModalBuilder()
            .setCustomId('prompt-modal')
            .setTitle('Describe it')
            .addLabelComponents(
              new LabelBuilder()
                .setLabel('Prompt')
                .setTextInputComponent(new TextInputBuilder().setCustomId('prompt').setStyle(TextInputStyle.Paragraph).setMinLength(3)),
            ),
        );
      } else if (interaction.isModalSubmit() && interaction.isFromMessage()) {
        events.push(`modal:${interaction.fields.getTextInputValue('prompt')}`);
        await interaction.update({ content: `Drawing ${interaction.fields.getTextInputValue('prompt')}`, components: [] });
      }
    };
    const command = await discord.slash('slow');
    const picker = await command.waitForOriginal();
    assert.deepEqual(
      picker.selects.map((m) => [m.customId, m.options.map((o) => o.value)]),
      [['size', ['512', '1024']]],
    );
    await assert.rejects(discord.selectMenu(picker, 'size', ['2048']), /no option/);
    const select = await discord.selectMenu(picker, 'size', ['1024']);
    assert.equal((await select.modal()).title, 'Describe it');
    await assert.rejects(discord.submitModal(select, { prompt: 'ab' }), /at least 3/);
    const submit = await discord.submitModal(select, { prompt: 'a lighthouse' });
    await submit.ack();
    assert.deepEqual(events, ['select:1024', 'modal:a lighthouse']);
    assert.equal(discord.message(picker.id)?.content, 'Drawing a lighthouse');
  });

  test('a dropped connection is resumed, not re-identified, and interactions keep flowing', async () => {
    const session = discord.gateway.activeSession()!;
    discord.gateway.dropConnection(4000);
    await discord.waitFor(() => session.resumes === 1 && session.connected, 5000);
    assert.equal(discord.gateway.identifies.length, 1);
    assert.ok(discord.gateway.dispatches.some((d) => d.t === 'RESUMED'));
    onInteraction = async (interaction) => {
      if (interaction.isChatInputCommand()) await interaction.reply('back');
    };
    const handle = await discord.slash('slow');
    assert.equal((await handle.waitForOriginal()).content, 'back');
  });

  test('records nothing unexpected', () => {
    assert.deepEqual(discord.unhandledRequests(), []);
    assert.deepEqual(discord.errors, []);
    assert.deepEqual(handlerErrors, []);
  });
});

test('a bad token makes login reject (discord.js: TokenInvalid after a 401)', async () => {
  const discord = await startDiscordStandIn();
  const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.restUrl } });
  try {
    await assert.rejects(client.login('not-the-token'), (e: unknown) => e instanceof Error && /invalid token/i.test(e.message));
    assert.equal(discord.requests[0]?.status, 401);
    assert.deepEqual(discord.requests[0]?.response, { message: '401: Unauthorized', code: 0 });
  } finally {
    await client.destroy();
    await discord.close();
  }
});

test('the gateway speaks zlib-stream when asked to', async () => {
  const discord = await startDiscordStandIn();
  try {
    const ws = new WebSocket(`${discord.gatewayUrl}?v=10&encoding=json&compress=zlib-stream`);
    const inflate = zlib.createInflate();
    const payloads: { op: number; t?: string }[] = [];
    let text = '';
    inflate.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      assert.equal(isBinary, true);
      inflate.write(raw);
      inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        const payload = JSON.parse(text) as { op: number; t?: string };
        text = '';
        payloads.push(payload);
        if (payload.op === 10) {
          ws.send(JSON.stringify({ op: 2, d: { token: discord.token, intents: 1, properties: { os: 'linux', browser: 't', device: 't' } } }));
        }
      });
    });
    await discord.waitFor(() => payloads.some((p) => p.t === 'GUILD_CREATE'), 3000);
    assert.deepEqual(
      payloads.map((p) => p.t ?? p.op),
      [10, 'READY', 'GUILD_CREATE'],
    );
    ws.close(1000);
    inflate.close();
  } finally {
    await discord.close();
  }
});

test('the gateway closes with 4004 on an IDENTIFY with a bad token', async () => {
  const discord = await startDiscordStandIn();
  try {
    const ws = new WebSocket(`${discord.gatewayUrl}?v=10&encoding=json`);
    const code = await new Promise<number>((resolve, reject) => {
      ws.on('error', reject);
      ws.on('message', (raw) => {
        const payload = JSON.parse(raw.toString()) as { op: number };
        if (payload.op === 10) {
          ws.send(JSON.stringify({ op: 2, d: { token: 'wrong', intents: 1, properties: { os: 'linux', browser: 't', device: 't' } } }));
        }
      });
      ws.on('close', (closeCode) => resolve(closeCode));
    });
    assert.equal(code, 4004);
    assert.deepEqual(discord.gateway.closeCodes, [4004]);
  } finally {
    await discord.close();
  }
});

test('bucket headers are honoured: discord.js waits instead of hitting real 429s', async () => {
  const discord = await startDiscordStandIn({ rateLimit: { limit: 2, windowMs: 500 } });
  const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.restUrl } });
  try {
    await client.login(discord.token);
    const channel = await client.channels.fetch(discord.channel('general').id);
    assert.ok(channel?.isSendable());
    await Promise.all([channel.send('1'), channel.send('2'), channel.send('3')]);
    const sends = discord.requestsTo('POST /channels/:id/messages');
    assert.deepEqual(
      sends.map((r) => r.status),
      [200, 200, 200],
    );
    assert.deepEqual(
      sends.map((r) => r.responseHeaders['x-ratelimit-remaining']),
      ['1', '0', '1'],
    );
    assert.ok(sends[2].at - sends[0].at >= 400, `third send waited for the bucket reset (${sends[2].at - sends[0].at} ms)`);
    assert.deepEqual(
      discord.messages('general').map((m) => m.content),
      ['1', '2', '3'],
    );
  } finally {
    await client.destroy();
    await discord.close();
  }
});

test('privileged intents must be enabled; MESSAGE_CREATE content follows the MessageContent intent', async () => {
  const strict = await startDiscordStandIn();
  const rejected = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.MessageContent], rest: { api: strict.restUrl } });
  try {
    await assert.rejects(rejected.login(strict.token), /disallowed intents/i);
    assert.deepEqual(strict.gateway.closeCodes, [4014]);
  } finally {
    await rejected.destroy();
    await strict.close();
  }

  const discord = await startDiscordStandIn();
  const client = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages], rest: { api: discord.restUrl } });
  try {
    const seen: string[] = [];
    client.on(Events.MessageCreate, (m) => void seen.push(`${m.author.username}:${m.content}`));
    await client.login(discord.token);
    await discord.waitForBot();
    discord.postMessage('general', 'hello bot', { user: 'alice' });
    discord.postMessage('general', `<@${discord.applicationId}> draw a cat`, { user: 'alice' });
    await discord.waitFor(() => seen.length === 2, 3000);
    assert.deepEqual(seen, ['alice:', `alice:<@${discord.applicationId}> draw a cat`]);
  } finally {
    await client.destroy();
    await discord.close();
  }
});

test('rateLimitProbability: 1 puts a 429 before every request, each retried once', async () => {
  const discord = await startDiscordStandIn({ rateLimitProbability: 1, retryAfterMs: 10 });
  const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.restUrl } });
  try {
    await client.login(discord.token);
    const channel = await client.channels.fetch(discord.channel('general').id);
    assert.ok(channel?.isSendable());
    await channel.send('through the storm');
    assert.deepEqual(
      discord.requests.map((r) => `${r.method} ${r.path.replace(/\d+/g, ':id')} ${r.status}`),
      ['GET /gateway/bot 429', 'GET /gateway/bot 200', 'POST /channels/:id/messages 429', 'POST /channels/:id/messages 200'],
    );
  } finally {
    await client.destroy();
    await discord.close();
  }
});
