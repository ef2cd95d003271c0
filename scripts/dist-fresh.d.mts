// Types of dist-fresh.mjs (plain JavaScript: the launcher runs it before tsx is loaded).
export function distIsFresh(root: string): boolean;
export function distExists(root: string): boolean;
export function compiledIfFresh(root: string, entry: string): string | undefined;
