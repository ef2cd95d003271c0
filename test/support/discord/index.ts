/**
 * A local stand-in for Discord's REST API and gateway that the real discord.js Client talks to
 * over loopback. See README.md in this folder.
 */
import { DiscordStandIn } from './stand-in.js';
import type { DiscordStandInOptions } from './options.js';

export async function startDiscordStandIn(options: DiscordStandInOptions = {}): Promise<DiscordStandIn> {
  return new DiscordStandIn(options).listen();
}

export { DiscordStandIn, MessageFlags } from './stand-in.js';
export type { InteractionContext, RecordedFile, RecordedRequest, SlashOptions, AttachmentInput, OptionValueInput } from './stand-in.js';
export type { DiscordStandInOptions, GuildOptions, ChannelOptions, MemberOptions, RoleOptions } from './options.js';
export type { StandInClock } from './clock.js';
export type { ViewMessage, ViewMessageVersion, ViewAttachment, ViewButton, ViewSelect, ViewMentions, MessageKind } from './messages.js';
export {
  InteractionHandle,
  CallbackType,
  type CallbackRecord,
  type AutocompleteChoice,
  type InteractionKind,
  type InteractionStatus,
} from './interactions.js';
export type { GatewaySession, IdentifyRecord, DispatchRecord } from './gateway.js';
export { CloseCodes as GatewayCloseCodes, GatewayIntents } from './gateway.js';
export type { RouteMatcher } from './rate-limits.js';
export { PERMISSIONS, permissionsOf, type PermissionInput, type PermissionName } from './permissions.js';
export type { GuildRecord, ChannelRecord, UserRecord, MemberRecord, RoleRecord } from './world.js';
export type { Json } from './wire.js';
