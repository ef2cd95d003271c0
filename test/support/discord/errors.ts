/** Discord's JSON error responses, with the exact codes and messages the API uses. */

export type ErrorTree = { _errors?: { code: string; message: string }[]; [key: string]: unknown };

export class DiscordApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: { message: string; code: number; errors?: ErrorTree; retry_after?: number; global?: boolean },
  ) {
    super(`${status} ${body.code}: ${body.message}`);
  }
}

const fail = (status: number, code: number, message: string) => new DiscordApiFailure(status, { message, code });

export const ApiErrors = {
  unauthorized: () => fail(401, 0, '401: Unauthorized'),
  notFound: () => fail(404, 0, '404: Not Found'),
  methodNotAllowed: () => fail(405, 0, '405: Method Not Allowed'),
  unknownApplication: () => fail(404, 10002, 'Unknown Application'),
  unknownChannel: () => fail(404, 10003, 'Unknown Channel'),
  unknownGuild: () => fail(404, 10004, 'Unknown Guild'),
  unknownMember: () => fail(404, 10007, 'Unknown Member'),
  unknownMessage: () => fail(404, 10008, 'Unknown Message'),
  unknownUser: () => fail(404, 10013, 'Unknown User'),
  unknownEmoji: () => fail(400, 10014, 'Unknown Emoji'),
  unknownWebhook: () => fail(404, 10015, 'Unknown Webhook'),
  unknownInteraction: () => fail(404, 10062, 'Unknown interaction'),
  unknownCommand: () => fail(404, 10063, 'Unknown application command'),
  oldMessageEdits: () => fail(400, 30046, 'Maximum number of edits to messages older than 1 hour reached. Try again later'),
  entityTooLarge: () => fail(413, 40005, 'Request entity too large'),
  alreadyAcknowledged: () => fail(400, 40060, 'Interaction has already been acknowledged.'),
  missingAccess: () => fail(403, 50001, 'Missing Access'),
  cannotEditOthers: () => fail(403, 50005, 'Cannot edit a message authored by another user'),
  emptyMessage: () => fail(400, 50006, 'Cannot send an empty message'),
  missingPermissions: () => fail(403, 50013, 'Missing Permissions'),
  invalidWebhookToken: () => fail(401, 50027, 'Invalid Webhook Token'),
  invalidApiVersion: () => fail(400, 50041, 'Invalid API version provided'),
  invalidJson: () => fail(400, 50109, 'The request body contains invalid JSON.'),
  invalidFormBody: (errors: ErrorTree) => new DiscordApiFailure(400, { message: 'Invalid Form Body', code: 50035, errors }),
};

/** One field error in Discord's nested `errors` format, e.g. path ['embeds', 0, 'title']. */
export interface FieldError {
  path: readonly (string | number)[];
  code: string;
  message: string;
}

export function errorTree(fieldErrors: readonly FieldError[]): ErrorTree {
  const root: ErrorTree = {};
  for (const e of fieldErrors) {
    let node: ErrorTree = root;
    for (const key of e.path) {
      const k = String(key);
      node[k] ??= {};
      node = node[k] as ErrorTree;
    }
    node._errors ??= [];
    node._errors.push({ code: e.code, message: e.message });
  }
  return root;
}

export function invalidForm(fieldErrors: readonly FieldError[]): DiscordApiFailure {
  return ApiErrors.invalidFormBody(errorTree(fieldErrors));
}
