// `npm run register`: puts the slash commands on Discord now, to DEV_GUILD_ID when set (shows
// at once) or globally (can take a while to reach every client). `npm start` does the same
// by itself whenever the definitions changed.
import '../config/load-env.js';
import { ApplicationCommandType } from 'discord.js';
import { loadDiscordConfig } from '../config/discord.js';
import { createRest, describeDiscordError } from './client.js';
import { exitWithError, StartupError } from '../process-exit.js';
import { commandPayloads, commandsHash, loadCommands, registerCommands, storeHash } from './registry.js';

async function main(): Promise<void> {
  const config = loadDiscordConfig();
  const payloads = commandPayloads(await loadCommands());
  const target = { applicationId: config.applicationId, guildId: config.devGuildId };
  try {
    await registerCommands(createRest(config), payloads, target);
  } catch (err) {
    throw new StartupError(describeDiscordError(err, config.apiUrl), { cause: err });
  }
  await storeHash(config.dataDir, commandsHash(payloads, target));
  // Slash commands as typed; message context-menu commands (type 3) as the menu shows them.
  const names = payloads.map((p) => (p.type === ApplicationCommandType.Message ? `"${p.name}" (message menu)` : `/${p.name}`)).join(', ');
  const where = config.devGuildId ? `guild ${config.devGuildId} (available now)` : 'every guild (global; may take up to an hour to appear)';
  console.log(`Registered ${names} for ${where}.`);
}

main().catch((err: unknown) => exitWithError(err, 'register'));
