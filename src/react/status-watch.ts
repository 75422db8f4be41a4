import { lstatSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';

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
 * Calls `changed` when the status file is written, replaced by rename,
 * deleted or created. It watches the directory, not the file: editors and
 * config tools replace the file, and a watch on the old inode would go deaf.
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

  const lost = (error: unknown): void => {
    watcher?.close();
    watcher = undefined;
    complain(error);
  };

  const open = (): void => {
    if (closed) return;
    try {
      const inode = statSync(directory).ino;
      watcher = watch(directory, { persistent: false }, (event, filename) => {
        // inotify reports the removal of the watched directory itself as one
        // more rename and then stays silent for good, even once the directory
        // is back: notice it, and watch again when it is.
        if (event === 'rename' && statSync(directory, { throwIfNoEntry: false })?.ino !== inode) {
          lost(new Error('the directory was removed or replaced'));
          return;
        }
        if (filename !== null && filename.toString() !== name && !linked()) return;
        clearTimeout(settle);
        settle = setTimeout(changed, SETTLE_MS);
      });
      watcher.on('error', lost);
      if (reported) changed();
      reported = false;
    } catch (error) {
      complain(error);
    }
  };

  const complain = (error: unknown): void => {
    if (!reported) {
      problem(`cannot watch ${directory} for status file changes (${error instanceof Error ? error.message : String(error)}); changes are seen at the next poll`);
      reported = true;
    }
    if (!closed) {
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
      watcher?.close();
    },
  };
}
