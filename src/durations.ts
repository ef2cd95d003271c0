// Durations as people read them, in one place, in three flavours: how long something took or
// will take (formatDuration), when to come back (formatWait, rounded up so the slot is open by
// then) and a configured length (formatSettingSeconds, exact: "90 s", "10 min", "2 h").

/** "150 ms", "4.2 s", "12 s", "3 min 5 s", "1 h 2 min". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 9_950) return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** "45 s", "12 min", "3 h 5 min": rounded up, so the slot is open when the user comes back. */
export function formatWait(ms: number): string {
  const s = Math.max(1, Math.ceil(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.ceil(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

/** A setting in seconds, exactly as set: "90 s", "10 min", "2 h". */
export function formatSettingSeconds(s: number): string {
  if (s < 120 || s % 60 !== 0) return `${s} s`;
  if (s < 7200 || s % 3600 !== 0) return `${s / 60} min`;
  return `${s / 3600} h`;
}
