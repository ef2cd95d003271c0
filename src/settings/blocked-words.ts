// Blocked words and phrases: matched as whole words, case-insensitively, with any run of
// spaces between a phrase's words, so "red fox" blocks "A RED  fox" but not "redfox" or "reddish".

/** How a phrase is stored: trimmed, inner whitespace collapsed, lower case. */
export function normalizePhrase(phrase: string): string {
  return phrase.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function phrasePattern(phrase: string): RegExp {
  const body = normalizePhrase(phrase).split(' ').map(escapeRegExp).join('\\s+');
  // Word characters in any script; a phrase may itself start or end with punctuation.
  return new RegExp(`(?<![\\p{L}\\p{N}_])${body}(?![\\p{L}\\p{N}_])`, 'iu');
}

/** The first blocked phrase found in `text`, or undefined. */
export function findBlocked(text: string, phrases: readonly string[]): string | undefined {
  const normalized = text.normalize('NFKC');
  return phrases.find((p) => phrasePattern(p).test(normalized));
}
