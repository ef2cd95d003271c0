// Who is calling: `Authorization: Bearer KEY`, or the key as the password of HTTP Basic auth
// (Open WebUI's A1111 integration sends `Basic base64(user:KEY)`; the user name is ignored).
// With API_AUTH=off (loopback only, src/config/api.ts) a request without a key is the
// `anonymous` user; a valid key is still that key's user, anything else (OpenAI's SDK insists
// on sending some key) is anonymous.
import type { FastifyRequest } from 'fastify';
import type { ApiKeyStore } from '../store/api-keys.js';
import { ApiError } from './errors.js';
import type { Principal } from './jobs-service.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export const ANONYMOUS: Principal = { name: 'anonymous', admin: true, limits: {} };

/** The key in the request, or undefined when it carries none. */
export function keyOf(req: Pick<FastifyRequest, 'headers'>): string | undefined {
  const header = req.headers.authorization?.trim();
  if (!header) return undefined;
  const [scheme, value = ''] = header.split(/\s+/, 2);
  if (/^bearer$/i.test(scheme)) return value || undefined;
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return (colon >= 0 ? decoded.slice(colon + 1) : decoded) || undefined;
  }
  return undefined;
}

export function authenticate(req: Pick<FastifyRequest, 'headers'>, keys: ApiKeyStore, authOn: boolean): Principal {
  const key = keyOf(req);
  if (!key) {
    if (!authOn) return ANONYMOUS;
    throw new ApiError(401, 'An API key is required: send `Authorization: Bearer KEY` (keys: `npm run keys -- create NAME`).', { code: 'missing_api_key' });
  }
  const found = keys.verify(key);
  if (!found && !authOn) return ANONYMOUS;
  if (!found) {
    const message = keys.isRevoked(key) ? 'This API key has been revoked.' : 'This API key is not valid.';
    throw new ApiError(401, message, { code: 'invalid_api_key' });
  }
  keys.touch(found.name);
  return { name: found.name, admin: found.admin, limits: found.limits };
}
