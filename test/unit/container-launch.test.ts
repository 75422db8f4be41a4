import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, shippedLaunch } from '../helpers/daemon';

/**
 * The image starts the daemon as the systemd unit does; these read both
 * files, so a flag changed in one and not the other fails here, on any
 * machine. The container suite checks the same on a running container's PID 1.
 */

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const entry = readFileSync(join(ROOT, 'container', 'run.sh'), 'utf8');

/** The words of the entry point's `exec` line, without the arguments it passes on. */
function execWords(script: string): string[] {
  const line = script.split('\n').find((candidate) => candidate.startsWith('exec '));
  assert.ok(line !== undefined, 'container/run.sh ends in exec');
  const words = line.split(/\s+/).slice(1);
  assert.equal(words.pop(), '"$@"', 'arguments reach the daemon');
  return words;
}

void describe('the image\'s launch', () => {
  void it('execs node with the unit\'s ExecStart, word for word', () => {
    assert.deepEqual(execWords(entry), [...shippedLaunch().command]);
  });

  void it('sets the unit\'s environment with ENV', () => {
    const set = new Set(dockerfile.split('\n').filter((line) => line.startsWith('ENV ')).flatMap((line) => line.slice(4).trim().split(/\s+/)));
    for (const [name, value] of Object.entries(shippedLaunch().env)) assert.ok(set.has(`${name}=${value}`), `ENV ${name}=${value}`);
  });

  void it('has that script as its entry point', () => {
    const entrypoint = /^ENTRYPOINT \["([^"]+)"\]$/m.exec(dockerfile)?.[1];
    assert.ok(entrypoint !== undefined, 'ENTRYPOINT in exec form, so no shell stands between podman stop and the daemon');
    assert.match(dockerfile, new RegExp(`^COPY container/run\\.sh ${entrypoint.replace(/[.]/g, '\\.')}$`, 'm'));
  });
});
