// How a refused command looks from the user's side (src/bot/refusal.ts).
import type { InteractionHandle, ViewMessage } from '../../support/discord/index.js';

/**
 * A refused /imagine: the bot deferred (the 3 s ack never waits on checks), then answered with
 * an ephemeral follow-up and deleted the deferred public reply. Returns the refusal.
 */
export async function refusalOf(run: InteractionHandle, timeoutMs = 10_000): Promise<ViewMessage> {
  const note = await run.waitForFollowUp((m) => m.ephemeral, { timeoutMs });
  const deadline = Date.now() + timeoutMs;
  while (!run.original()?.deleted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (!run.original()?.deleted) throw new Error(`the deferred reply was not deleted after the refusal "${note.content}"`);
  return note;
}
