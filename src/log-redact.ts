// Secrets never reach a log line. Two layers: pino's `redact` for fields known to hold one, and
// a scrubber over every finished line for secrets inside text (error messages and stacks that
// quote a webhook URL with its interaction token, `key=` query parameters, bot tokens).
export const REDACTED = '[redacted]';

/** Fields that hold a secret wherever they appear (pino redact paths, one level of nesting). */
export const REDACT_PATHS = [
  'token',
  'apiKey',
  'password',
  'authorization',
  'DISCORD_TOKEN',
  'GOOGLE_API_KEY',
  '*.token',
  '*.apiKey',
  '*.password',
  '*.authorization',
  '*.DISCORD_TOKEN',
  '*.GOOGLE_API_KEY',
  'headers.authorization',
  '*.headers.authorization',
  'interaction.token',
  '*.interaction.token',
];

const SCRUBBERS: [RegExp, string][] = [
  // Interaction tokens in webhook and callback URLs: /webhooks/<app id>/<token>, /interactions/<id>/<token>.
  [/(\/(?:webhooks|interactions)\/\d+\/)[\w.-]+/g, `$1${REDACTED}`],
  // API keys and tokens in query strings (Google's `key=`).
  [/([?&](?:key|api_key|apikey|token|access_token)=)[^&\s"'\\]+/gi, `$1${REDACTED}`],
  // An Authorization header's value quoted in text.
  [/\b(Bot|Bearer) [\w.-]{20,}/g, `$1 ${REDACTED}`],
  // Discord bot tokens (id.timestamp.hmac, base64url) and Google API keys, wherever they stand.
  [/\b[\w-]{23,28}\.[\w-]{6}\.[\w-]{27,38}\b/g, REDACTED],
  [/\bAIza[\w-]{35}\b/g, REDACTED],
];

export function scrubSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SCRUBBERS) out = out.replace(pattern, replacement);
  return out;
}
