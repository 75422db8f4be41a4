import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { layered, parseConfigFile, readConfigFile } from '../../src/config/config-file';

describe('configuration file', () => {
  it('reads NAME=value lines, comments and blank lines, quotes as dotenv does', () => {
    const file = parseConfigFile('# a comment\n\nPOLLING_INTERVAL=1\nNODE_NAME="shard 1"\r\nexport LOG_LEVEL=debug\n', 'f');
    assert.deepEqual(file.values, { POLLING_INTERVAL: '1', NODE_NAME: 'shard 1', LOG_LEVEL: 'debug' });
    assert.deepEqual(file.problems, []);
    assert.deepEqual(file.warnings, []);
  });

  it('names each line that is not an assignment, with its number', () => {
    const file = parseConfigFile('POLLING_INTERVAL=1\ndrain\n  = 5\n', '/etc/x');
    assert.deepEqual(file.problems, ['/etc/x:2: expected NAME=value, got "drain"', '/etc/x:3: expected NAME=value, got "= 5"']);
  });

  it('warns of a name that is no variable of ours, so a typo is not silently a default', () => {
    const file = parseConfigFile('POLLING_INTERVALL=1\nPARTIPANT_MAX=10\nHA_PORT=6060\n', 'f');
    assert.deepEqual(file.warnings, ['f:1: POLLING_INTERVALL is not a signal-sidecar variable; ignored']);
  });

  it('an absent .env is no file; an absent or unreadable CONFIG_FILE is a problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'config-file-'));
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      assert.deepEqual(readConfigFile({}).problems, []);
      const missing = readConfigFile({ CONFIG_FILE: join(dir, 'none') });
      assert.equal(missing.problems.length, 1);
      assert.match(missing.problems[0] ?? '', /^CONFIG_FILE=".*none": cannot read it \(ENOENT/);
      assert.match(readConfigFile({ CONFIG_FILE: dir }).problems[0] ?? '', /EISDIR/);
      writeFileSync(join(dir, 'real'), 'TCP_PORT=7000\n');
      assert.deepEqual(readConfigFile({ CONFIG_FILE: join(dir, 'real') }).values, { TCP_PORT: '7000' });
    } finally {
      process.chdir(cwd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('puts the file under the environment: a variable in the environment wins, even empty', () => {
    const file = parseConfigFile('TCP_PORT=7000\nHTTP_PORT=7001\nCENSUS_HOST=conference.x\n', 'f');
    const env = layered({ TCP_PORT: '8000', CENSUS_HOST: '', UNSET: undefined }, { ...file, explicit: true });
    assert.deepEqual(env, { TCP_PORT: '8000', HTTP_PORT: '7001', CENSUS_HOST: '' });
  });
});
