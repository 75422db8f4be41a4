import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { readStatusFile, type StatusFileSample } from '../../src/collect/status-file';
import { withoutTime } from '../helpers/samples';

const ROOT = resolve(__dirname, '..', '..');
/** An unprivileged account: root reads a chmod 000 file, so unreadability is shown as this user. */
const NOBODY = 65534;

describe('readStatusFile on hostile status files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'status-hostile-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, contents: string | Buffer): string => {
    const path = join(dir, name);
    writeFileSync(path, contents);
    return path;
  };
  const expectMissing = (sample: StatusFileSample, error: RegExp): void => {
    assert.equal(sample.found, false);
    assert.equal(sample.contents, '');
    assert.match(sample.error ?? '', error);
  };

  it('missing', async () => {
    expectMissing(await readStatusFile(join(dir, 'absent')), /status file missing/);
  });

  it('a path through a regular file (ENOTDIR)', async () => {
    expectMissing(await readStatusFile(join(file('plain', 'ready'), 'below')), /status file unreadable/);
  });

  it('a directory', async () => {
    const path = join(dir, 'a-directory');
    mkdirSync(path);
    expectMissing(await readStatusFile(path), /is a directory/);
  });

  it('a FIFO nobody writes to: refused at once instead of blocking a pool thread', async () => {
    const path = join(dir, 'fifo');
    execFileSync('mkfifo', [path]);
    const started = performance.now();
    expectMissing(await readStatusFile(path), /not a regular file/);
    assert.ok(performance.now() - started < 1000);
  });

  it('empty: found, with no word', async () => {
    assert.deepEqual(withoutTime(await readStatusFile(file('empty', ''))), { found: true, contents: '', error: null });
  });

  it('a CRLF line is the bare word', async () => {
    assert.deepEqual(withoutTime(await readStatusFile(file('crlf', 'drain\r\n'))), { found: true, contents: 'drain', error: null });
  });

  it('an unknown word is passed on as read', async () => {
    assert.equal((await readStatusFile(file('unknown', 'readyish\n'))).contents, 'readyish');
  });

  it('binary junk is read but kept report-sized', async () => {
    const junk = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 37 + 11) % 256));
    const sample = await readStatusFile(file('junk', junk));
    assert.equal(sample.found, true);
    assert.ok(sample.contents.length <= 129, `contents ${sample.contents.length} characters`);
    assert.notEqual(sample.contents, 'ready');
  });

  it('64 KiB of garbage is read only in part and kept report-sized', async () => {
    const sample = await readStatusFile(file('garbage', `ready${'#'.repeat(64 * 1024)}`));
    assert.equal(sample.found, true);
    assert.ok(sample.contents.length <= 129, `contents ${sample.contents.length} characters`);
    assert.notEqual(sample.contents, 'ready');
  });

  it('unreadable (chmod 000) for the account the daemon runs as', () => {
    const path = file('unreadable', 'ready');
    chmodSync(path, 0o000);
    chmodSync(dir, 0o755);
    // As root the permission bits do not apply, so the read runs in a child
    // under the unprivileged account, as the packaged daemon does.
    const asNobody = process.getuid?.() === 0 ? { uid: NOBODY, gid: NOBODY } : {};
    const code = `require(${JSON.stringify(join(ROOT, 'src', 'collect', 'status-file.ts'))})
      .readStatusFile(${JSON.stringify(path)}).then((s) => process.stdout.write(JSON.stringify(s)));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 20_000,
      ...asNobody,
    });
    assert.equal(child.status, 0, child.stderr);
    const sample = JSON.parse(child.stdout) as StatusFileSample;
    expectMissing(sample, /not readable \(permission denied\)/);
  });
});
