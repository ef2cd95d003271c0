// Jobs asked for through the HTTP API (src/api): each key is a queue user of its own, with a user
// id no Discord snowflake can take (`api:NAME`), no guild (so the owner's limits and quotas apply,
// as for every Discord user), and the pseudo-channel `api`. The bot's presenter and delivery
// outbox leave these jobs alone: API clients fetch their results.
import type { Requester } from './types.js';

export const API_USER_PREFIX = 'api:';
export const API_CHANNEL = 'api';

export function apiRequester(keyName: string): Requester {
  return { userId: `${API_USER_PREFIX}${keyName}`, username: keyName, guildId: null, channelId: API_CHANNEL };
}

export function isApiJob(job: { requester: Pick<Requester, 'userId'> }): boolean {
  return job.requester.userId.startsWith(API_USER_PREFIX);
}
