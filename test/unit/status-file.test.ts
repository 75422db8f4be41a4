import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readStatusFile } from '../../src/collect/status-file';
import { withoutTime } from '../helpers/samples';

describe('reading the status file while it is rewritten', () => {
  const dir = mkdtempSync(join(tmpdir(), 'status-file-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('an empty file caught between truncation and write reads as the word written', async () => {
    const path = join(dir, 'rewritten');
    writeFileSync(path, '');
    const reading = readStatusFile(path, [20, 45]);
    setTimeout(() => writeFileSync(path, 'drain\n'), 10);
    assert.deepEqual(withoutTime(await reading), { found: true, contents: 'drain', error: null });
  });

  it('a file that stays empty reads as empty after the pauses', async () => {
    const path = join(dir, 'empty');
    writeFileSync(path, '');
    const started = performance.now();
    assert.deepEqual(withoutTime(await readStatusFile(path, [5, 10])), { found: true, contents: '', error: null });
    assert.ok(performance.now() - started >= 14);
  });

  it('a missing file is reported at once, not read again', async () => {
    const started = performance.now();
    const sample = await readStatusFile(join(dir, 'missing'), [1000]);
    assert.equal(sample.found, false);
    assert.equal(sample.error, 'status file missing');
    assert.ok(performance.now() - started < 500);
  });
});
