// Who may see and act on a job. A job belongs to the guild it was asked for in (and, outside a
// guild, to its channel): buttons and commands naming a job from anywhere else are answered as
// if it did not exist, so ids copied across servers reveal nothing. Moderator rights count only
// in the job's own guild.
import { PermissionFlagsBits, type PermissionsBitField } from 'discord.js';
import type { JobRecord } from '../queue/types.js';

/**
 * A moderator for this bot: Manage Messages (the permission Discord itself requires to remove
 * other people's messages), in the guild the interaction comes from. Manage Server alone does
 * not count; server admins have both by default.
 */
export function isModerator(perms: Readonly<PermissionsBitField> | null | undefined): boolean {
  return perms?.has(PermissionFlagsBits.ManageMessages) ?? false;
}

/** Manage Server: the right to change this bot's server settings (/settings, /stats). */
export function isServerAdmin(perms: Readonly<PermissionsBitField> | null | undefined): boolean {
  return perms?.has(PermissionFlagsBits.ManageGuild) ?? false;
}

/** Where an interaction (or a later API call) comes from. */
export interface Caller {
  userId: string;
  guildId: string | null;
  channelId: string | null;
  /** Moderator in `guildId` (isModerator of the interaction's member permissions). */
  moderator: boolean;
}

export function callerOf(i: {
  user: { id: string };
  guildId: string | null;
  channelId: string | null;
  memberPermissions: Readonly<PermissionsBitField> | null;
}): Caller {
  return { userId: i.user.id, guildId: i.guildId, channelId: i.channelId, moderator: isModerator(i.memberPermissions) };
}

/** The job was asked for where the caller is: the same guild, or outside guilds the same channel. */
export function jobBelongsHere(job: JobRecord, caller: Caller): boolean {
  if (job.requester.guildId !== caller.guildId) return false;
  return caller.guildId !== null || job.requester.channelId === caller.channelId;
}

/** Its requester, or a moderator of the job's own guild, may cancel it. */
export function mayCancel(job: JobRecord, caller: Caller): boolean {
  if (!jobBelongsHere(job, caller)) return false;
  return job.requester.userId === caller.userId || (caller.moderator && caller.guildId !== null);
}

/** The job if the caller may see it here, else undefined (as if it did not exist). */
export function jobForCaller(get: (id: string) => JobRecord | undefined, jobId: string, caller: Caller): JobRecord | undefined {
  const job = get(jobId);
  return job && jobBelongsHere(job, caller) ? job : undefined;
}
