import { constants, promises as fs } from 'node:fs';

export interface StatusFileSample {
  /** The file was read as a regular file. */
  readonly found: boolean;
  /** Its text, trimmed, cut to a length fit for a report. */
  readonly contents: string;
  /** Why it could not be read; null when it was. */
  readonly error: string | null;
}

/** A status word is tiny; reading more would only copy junk into reports. */
const READ_LIMIT = 4096;
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
    if (info.isDirectory()) return { found: false, contents: '', error: 'status file is a directory' };
    if (!info.isFile()) return { found: false, contents: '', error: 'status file is not a regular file' };
    const buffer = Buffer.alloc(READ_LIMIT);
    const { bytesRead } = await handle.read(buffer, 0, READ_LIMIT, 0);
    return { found: true, contents: statusContents(buffer.toString('utf8', 0, bytesRead)), error: null };
  } catch (error) {
    return { found: false, contents: '', error: describe(error) };
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
