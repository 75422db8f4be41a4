import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPLIES } from '../../src/demo/fake-signal-node';
import { QUICK, agentAnswer, agentSays, get, startAgainst, startDaemon, untilHealthy, verdict, waitFor, type Daemon } from '../helpers/daemon';
import { daemonSuite } from '../helpers/daemon-suite';

const dropped = async (port: number, reason: string): Promise<number> =>
  Number(new RegExp(`^signal_log_lines_dropped_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec((await get(port, '/metrics')).body)?.[1] ?? 0);

/**
 * The daemon's log readers misbehave: the daemon keeps answering, its
 * answers stay what they would be, and SIGTERM still exits 0.
 */
void describe('a log sink that fails', () => {
  const suite = daemonSuite('sidecar-sinks-');
  const { fake, scratch } = suite;

  /** A break and a heal of jicofo, each a logged state change, answered as always. */
  const breakAndHeal = async (d: Daemon): Promise<void> => {
    fake.set('jicofoHealth', REPLIES.jicofoHardDown());
    await agentSays(d, 'down ready 100%\n');
    assert.equal((await get(d.httpPort, '/signal/health')).status, 503);
    fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    await agentSays(d, 'up ready 100%\n');
    assert.equal((await get(d.httpPort, '/signal/health')).status, 200);
  };

  void it('stdout closed (EPIPE): the lines move to stderr, answers unchanged, SIGTERM exits 0', async () => {
    suite.daemon = await startAgainst(fake);
    const d = suite.daemon;
    await untilHealthy(d.httpPort);
    d.child.stdout?.destroy();
    await breakAndHeal(d);
    d.child.kill('SIGHUP');
    await waitFor('the state changes and the reload on stderr', () => {
      const text = d.stderr.join('');
      return ['"log sink failed; logging here from now on"', '"signal node state changed"', '"configuration reloaded: nothing changed"'].every((line) => text.includes(line)) ? true : undefined;
    });
    assert.equal(verdict(await agentAnswer(d.agentPort)), 'up ready 100%\n');
    assert.equal(d.child.exitCode, null, 'still running');
    assert.equal(await d.stop(), 0);
  });

  void it('stdout and stderr closed: nothing to log to, lines counted as dropped, answers unchanged, SIGTERM exits 0', async () => {
    suite.daemon = await startAgainst(fake);
    const d = suite.daemon;
    await untilHealthy(d.httpPort);
    d.child.stdout?.destroy();
    d.child.stderr?.destroy();
    await breakAndHeal(d);
    d.child.kill('SIGHUP');
    await breakAndHeal(d);
    await waitFor('dropped lines counted', async () => ((await dropped(d.httpPort, 'closed')) > 0 ? true : undefined));
    assert.equal(await agentAnswer(d.agentPort), 'up ready 100%\n');
    assert.equal(await d.stop(), 0);
  });

  void it('stdout a pipe nobody reads: lines beyond the queue bound are dropped, not kept, answers unchanged', async () => {
    // Several hundred KiB of warnings at start: one per name in the file that is no variable of ours.
    const file = join(scratch, 'config');
    writeFileSync(file, Array.from({ length: 4000 }, (_, i) => `NOT_A_SIDECAR_VARIABLE_${i}=1`).join('\n'));
    suite.daemon = await startDaemon(
      { ...QUICK, JICOFO_ORIG: fake.jicofoOrigin, PROSODY_ORIG: fake.prosodyOrigin, CONFIG_FILE: file },
      { status: 'ready', readStdout: false },
    );
    const d = suite.daemon;
    await untilHealthy(d.httpPort);
    assert.ok((await dropped(d.httpPort, 'full')) > 0, 'lines dropped while the reader does not read');
    await breakAndHeal(d);
    assert.equal(d.child.exitCode, null, 'still running');
    assert.equal(await d.stop(), 0);
  });
});
