// Whether dist/ (scripts/build.mjs) holds an up-to-date compiled copy of an entry point: its build
// stamp is newer than every file in src/ and commands/ and than tsconfig.json. Read by the
// launcher (scripts/launch.mjs, what the npm scripts run) and by the tests that start entry
// points, so both run what `npm start` runs. A few milliseconds of `stat`.
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/** Modification time, or 0 when the file is not there. */
function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** True when some file under `dir` changed after `since`. */
function changedSince(dir, since) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory() ? changedSince(path, since) : mtime(path) > since) return true;
  }
  return false;
}

/** True when dist/ is complete and newer than every source. */
export function distIsFresh(root) {
  const built = mtime(join(root, 'dist', '.build-stamp'));
  return built > 0 && !changedSince(join(root, 'src'), built) && !changedSince(join(root, 'commands'), built) && mtime(join(root, 'tsconfig.json')) <= built;
}

/** Whether dist/ was built at all (stale or not). */
export function distExists(root) {
  return mtime(join(root, 'dist', '.build-stamp')) > 0;
}

/** The compiled copy of `entry` (a .ts path, absolute or relative to root) when dist/ is fresh, else undefined. */
export function compiledIfFresh(root, entry) {
  const source = resolve(root, entry);
  const compiled = join(root, 'dist', relative(root, source)).replace(/\.ts$/, '.js');
  return mtime(compiled) > 0 && distIsFresh(root) ? compiled : undefined;
}
