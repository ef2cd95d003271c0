// The discord.js Client with the fewest intents that work: slash commands, autocomplete and
// buttons arrive as interactions whatever the intents, so only Guilds (not privileged) is asked
// for, which keeps discord.js' guild and channel caches (interaction.guild, .channel) filled.
// No message content, members or presences. DISCORD_API_URL points REST, and with it the
// gateway lookup, at another host (the tests' stand-in).
import { Client, DiscordAPIError, GatewayIntentBits, REST, type ClientOptions } from 'discord.js';
import type { DiscordConfig } from '../config/discord.js';
import { StartupError } from '../process-exit.js';

const SETUP_DOC = 'see docs/discord-setup.md';

export function clientOptions(config: Pick<DiscordConfig, 'apiUrl'>): ClientOptions {
  return {
    intents: [GatewayIntentBits.Guilds],
    allowedMentions: { parse: [] },
    ...(config.apiUrl ? { rest: { api: config.apiUrl } } : {}),
  };
}

export function createClient(config: Pick<DiscordConfig, 'apiUrl'>): Client {
  return new Client(clientOptions(config));
}

/** REST alone (the register CLI): no gateway connection. */
export function createRest(config: Pick<DiscordConfig, 'apiUrl' | 'token'>): REST {
  return new REST(config.apiUrl ? { api: config.apiUrl } : {}).setToken(config.token);
}

function errorCode(err: unknown): string | number | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' || typeof code === 'number' ? code : undefined;
}

/** One sentence for the operator about a failure to reach or authenticate with Discord. */
export function describeDiscordError(err: unknown, apiUrl?: string): string {
  const code = errorCode(err);
  if (code === 'TokenInvalid' || (err instanceof DiscordAPIError && err.status === 401)) {
    return `Discord rejected DISCORD_TOKEN (401 Unauthorized): reset the token on the Bot page of the Developer Portal and put the new one in .env (${SETUP_DOC}).`;
  }
  if (code === 'DisallowedIntents' || code === 4014) {
    return `Discord refused the gateway intents the bot asked for: enable them on the Bot page of the Developer Portal (${SETUP_DOC}).`;
  }
  if (err instanceof DiscordAPIError) {
    return `Discord answered ${err.status} (code ${String(err.code)}) to ${err.method} ${err.url}: ${err.message}.`;
  }
  if (typeof code === 'string' && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|UND_ERR_\w+)$/.test(code)) {
    return `Cannot reach Discord at ${apiUrl ?? 'discord.com'} (${code}): check the network${apiUrl ? ' and DISCORD_API_URL' : ''}.`;
  }
  return `Discord connection failed: ${(err as Error)?.message ?? String(err)}.`;
}

/** Logs in and waits until the client is ready; rejects with one sentence. */
export async function login(client: Client, token: string, apiUrl?: string): Promise<void> {
  const ready = new Promise<void>((resolve) => client.once('clientReady', () => resolve()));
  try {
    await client.login(token);
  } catch (err) {
    throw new StartupError(describeDiscordError(err, apiUrl), { cause: err });
  }
  await ready;
}
