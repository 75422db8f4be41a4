import { lstatSync, readlinkSync, realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * One write makes several events (truncate, write, close); they are let
 * settle this long so one read follows them. (A read that still finds the
 * file empty mid-write is handled by the reader, see readStatusFile.)
 */
const SETTLE_MS = 15;

export interface StatusWatch {
  close(): void;
}

/**
 * The file that a write through STATUS_PATH lands in, when STATUS_PATH is a
 * link out of its own directory: the Debian package links
 * /etc/jitsi/shard-status into /var/lib/signal-sidecar, and an operator's
 * `echo drain > /etc/jitsi/shard-status` follows the link, so inotify tells
 * only the target's directory. Undefined for a plain file, a missing one, or
 * a link that stays in its directory.
 */
export function linkedTarget(path: string): string | undefined {
  try {
    if (!lstatSync(path).isSymbolicLink()) return undefined;
    let target: string;
    try {
      target = realpathSync(path);
    } catch {
      // A dangling link: the first write through it creates its target.
      target = resolve(dirname(path), readlinkSync(path));
    }
    return dirname(target) === realpathSync(dirname(path)) ? undefined : target;
  } catch {
    return undefined;
  }
}

/**
 * fs.watch of a directory. inotify reports the removal of the watched
 * directory itself as one more rename and then stays silent for good, even
 * once the directory is back: that goes to `gone`, as do the watcher's errors.
 */
function watchDirectory(directory: string, event: (filename: string | null) => void, gone: (error: unknown) => void): FSWatcher {
  const inode = statSync(directory).ino;
  const watcher = watch(directory, { persistent: false }, (kind, filename) => {
    if (kind === 'rename' && statSync(directory, { throwIfNoEntry: false })?.ino !== inode) {
      gone(new Error('the directory was removed or replaced'));
      return;
    }
    event(filename === null ? null : filename.toString());
  });
  watcher.on('error', gone);
  return watcher;
}

interface LinkFollower {
  /** Points the watch at where the link leads now, or drops it. False when that directory cannot be watched (`lost` was told). */
  follow(): boolean;
  close(): void;
}

/**
 * The second watch of a status file that is a link out of its directory: on
 * the directory the link leads to, for writes through the link.
 */
function linkFollower(path: string, notify: () => void, lost: (where: string, error: unknown) => void): LinkFollower {
  let followed: { readonly target: string; readonly watcher: FSWatcher } | undefined;
  const close = (): void => {
    followed?.watcher.close();
    followed = undefined;
  };
  return {
    follow() {
      const target = linkedTarget(path);
      if (target === followed?.target) return true;
      close();
      if (target === undefined) return true;
      const into = dirname(target);
      const file = basename(target);
      try {
        // A watch left behind (the link was re-pointed, or everything was lost) has nothing more to say.
        const current = (): boolean => followed?.watcher === opened;
        const opened: FSWatcher = watchDirectory(
          into,
          (filename) => {
            if (current() && (filename === null || filename === file)) notify();
          },
          (error) => {
            if (current()) lost(into, error);
          },
        );
        followed = { target, watcher: opened };
        return true;
      } catch (error) {
        lost(into, error);
        return false;
      }
    },
    close,
  };
}

/**
 * Calls `changed` when the status file is written, replaced by rename,
 * deleted or created. It watches the directory, not the file: editors and
 * config tools replace the file, and a watch on the old inode would go deaf.
 * When the file is a link out of its directory, the directory it leads to is
 * watched too, and the second watch follows the link when it is re-pointed.
 */
export function watchStatusFile(
  path: string,
  changed: () => void,
  problem: (message: string) => void,
  retryMs: number,
): StatusWatch {
  const directory = dirname(path);
  const name = basename(path);
  let watcher: FSWatcher | undefined;
  let retry: NodeJS.Timeout | undefined;
  let settle: NodeJS.Timeout | undefined;
  let closed = false;
  let reported = false;
  // A status file mounted from a Kubernetes ConfigMap is a symlink through
  // `..data`, which the kubelet swaps by rename to update it: the events name
  // `..data_tmp` and `..data`, never the file. When the file is a link, any
  // change in its directory may have changed it, and costs one small read.
  const linked = (): boolean => lstatSync(join(directory, name), { throwIfNoEntry: false })?.isSymbolicLink() === true;

  const notify = (): void => {
    clearTimeout(settle);
    settle = setTimeout(changed, SETTLE_MS);
  };

  const lost = (where: string, error: unknown): void => {
    stop();
    complain(where, error);
  };
  const link = linkFollower(path, notify, lost);

  const stop = (): void => {
    watcher?.close();
    watcher = undefined;
    link.close();
  };

  const open = (): void => {
    if (closed) return;
    try {
      const current = (): boolean => watcher === opened;
      const opened: FSWatcher = watchDirectory(
        directory,
        (filename) => {
          if (!current() || (filename !== null && filename !== name && !linked())) return;
          link.follow();
          notify();
        },
        (error) => {
          if (current()) lost(directory, error);
        },
      );
      watcher = opened;
    } catch (error) {
      complain(directory, error);
      return;
    }
    if (!link.follow()) return;
    if (reported) changed();
    reported = false;
  };

  const complain = (where: string, error: unknown): void => {
    if (!reported) {
      problem(`cannot watch ${where} for status file changes (${error instanceof Error ? error.message : String(error)}); changes are seen at the next poll`);
      reported = true;
    }
    if (!closed) {
      clearTimeout(retry);
      retry = setTimeout(open, retryMs);
      retry.unref();
    }
  };

  open();
  return {
    close() {
      closed = true;
      clearTimeout(retry);
      clearTimeout(settle);
      stop();
    },
  };
}
