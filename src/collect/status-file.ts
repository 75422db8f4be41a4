import { constants, promises as fs } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export interface StatusFileSample {
  /** The file was read as a regular file. */
  readonly found: boolean;
  /** Its text, trimmed, cut to a length fit for a report. */
  readonly contents: string;
  /** Why it could not be read; null when it was. */
  readonly error: string | null;
  /** Its modification time (ms since the epoch); null when it was not read. */
  readonly modifiedAt: number | null;
}

/** A status word is tiny; reading more would only copy junk into reports. */
export const STATUS_READ_LIMIT = 4096;
const REPORT_LIMIT = 128;

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'status file missing';
    case 'EACCES':
    case 'EPERM':
      return 'status file not readable (permission denied)';
    case 'EISDIR':
      return 'status file is a directory';
    default:
      return `status file unreadable: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Trims the file's text and keeps a report-sized prefix of it. */
export function statusContents(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > REPORT_LIMIT ? `${trimmed.slice(0, REPORT_LIMIT)}…` : trimmed;
}

/**
 * `echo drain > STATUS_PATH` truncates the file and then writes it: read in
 * between, the file is empty, status unknown, and the agent says drain for a
 * moment. The status watch lets events settle and drops an empty read, but the
 * scheduled poll reads at any moment and caught the gap too (the e2e suite saw
 * it in about half of its runs of 60 rewrites). So an empty file is read again
 * after each of these pauses and counts only if it stays empty (about 0.4 s):
 * growing pauses outlast a writer held up on a busy machine, unequal ones keep
 * a writer rewriting at a steady rhythm from catching every read.
 */
const EMPTY_RECHECKS_MS: readonly number[] = [20, 45, 100, 200];

/** Reads STATUS_PATH; an empty file is read again after each of `emptyRechecksMs`. */
export async function readStatusFile(path: string, emptyRechecksMs: readonly number[] = EMPTY_RECHECKS_MS): Promise<StatusFileSample> {
  let sample = await readOnce(path);
  for (const pause of emptyRechecksMs) {
    if (!sample.found || sample.contents !== '') break;
    await new Promise((resolve) => setTimeout(resolve, pause));
    sample = await readOnce(path);
  }
  return sample;
}

/**
 * Opened non-blocking and checked to be a regular file, so a FIFO or device
 * at that path cannot hang a thread of the pool.
 */
async function readOnce(path: string): Promise<StatusFileSample> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const info = await handle.stat();
    if (info.isDirectory()) return { found: false, contents: '', error: 'status file is a directory', modifiedAt: null };
    if (!info.isFile()) return { found: false, contents: '', error: 'status file is not a regular file', modifiedAt: null };
    const buffer = Buffer.alloc(STATUS_READ_LIMIT);
    const { bytesRead } = await handle.read(buffer, 0, STATUS_READ_LIMIT, 0);
    return { found: true, contents: statusContents(buffer.toString('utf8', 0, bytesRead)), error: null, modifiedAt: info.mtimeMs };
  } catch (error) {
    return { found: false, contents: '', error: describe(error), modifiedAt: null };
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Where a write of STATUS_PATH lands: the file itself, or what it links to.
 * The Debian package links /etc/jitsi/shard-status into the service's state
 * directory, the one place its hardened unit may write; a rename onto the
 * link would replace the link with a file the service can no longer rewrite.
 */
async function writeTarget(path: string): Promise<string> {
  let target = path;
  // A bounded walk: a loop of links is the caller's ELOOP, not a hang.
  for (let hops = 0; hops < 40; hops += 1) {
    const link = await fs.readlink(target).catch(() => undefined);
    if (link === undefined) return target;
    target = resolve(dirname(target), link);
  }
  return target;
}

/**
 * Replaces the status file in one step: a reader sees the old word or the new
 * one, never an empty or half-written file. The temporary file sits in the
 * same directory because rename(2) is atomic only within one file system.
 * The old file's mode, owner and group are kept so the service can still read it.
 * `modifiedAt` dates the file as of when the word was decided elsewhere (a
 * Consul value as the watch read it), not when this copy landed.
 */
export async function writeStatusFile(path: string, word: string, modifiedAt?: number): Promise<void> {
  const target = await writeTarget(path);
  const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.${Date.now()}.tmp`);
  const previous = await fs.stat(target).catch(() => undefined);
  const handle = await fs.open(temporary, 'wx', 0o644);
  try {
    await handle.writeFile(`${word}\n`);
    // Kept readable by others whatever the writer's umask: jicofo's tooling and operators read it.
    await handle.chmod(previous === undefined ? 0o644 : previous.mode & 0o7777);
    // Only root may give a file away; anyone else keeps their own ownership.
    if (previous !== undefined && process.getuid?.() === 0) await handle.chown(previous.uid, previous.gid);
    if (modifiedAt !== undefined) await handle.utimes(new Date(modifiedAt), new Date(modifiedAt));
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await fs.rename(temporary, target);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
}
