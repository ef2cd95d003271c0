// The one way user text (prompts, negative prompts, names) is echoed into a message, an embed
// or a notice: as one line of plain text. Discord's default escaping (escapeMarkdown) leaves
// masked links, headings, lists, quotes and mentions alone, so a prompt could show a link that
// leads elsewhere, a page-wide heading or a mention; here every one of them is neutralised.
import { escapeMarkdown } from 'discord.js';

const ZERO_WIDTH_SPACE = '\u200b';

/** `text` as inert one-line Markdown: it renders as the characters typed, nothing more. */
export function escapeUserText(text: string): string {
  // One line: no newline can start a heading, quote or list further down.
  const oneLine = text.replace(/\s+/g, ' ').trim();
  let out = escapeMarkdown(oneLine, { heading: true, bulletedList: true, numberedList: true });
  // Every bracket, so no `[text](url)` (discord.js' maskedLink escapes only the first one).
  out = out.replace(/[[\]]/g, '\\$&');
  // Bare URLs: Discord would make them links the bot appears to post; a zero-width space after
  // the scheme keeps the text readable and unclickable.
  out = out.replace(/\b([a-z][a-z\d+.-]*):\/\//gi, `$1:${ZERO_WIDTH_SPACE}//`);
  // `<@id>`, `<@&role>`, `<#channel>`, `</command:id>`, `<t:…>`: shown as typed, not resolved.
  out = out.replace(/</g, '\\<');
  // @everyone / @here never ping (allowed_mentions) but would still render highlighted.
  out = out.replace(/@(everyone|here)/gi, `@${ZERO_WIDTH_SPACE}$1`);
  // Line-start syntax escapeMarkdown misses: block quotes and `-# ` subtext.
  out = out.replace(/^(>|-#)/, '\\$1');
  return out;
}

/** escapeUserText, shortened to `max` characters of the original (with an ellipsis). */
export function escapeUserLine(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return escapeUserText(oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine);
}
