import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeSignalNode, answer } from '../src/demo/fake-signal-node';
import { sleep, waitFor, type Daemon } from '../test/helpers/daemon';
import { CONFERENCE_HOST, largestNode } from '../test/helpers/largest-node';
import { timedGet } from './lib/load';
import { pin, rssMiB, spread } from './lib/measure';
import { startReference, startSidecar } from './lib/servers';
import { alone, type Figure } from './lib/table';
import { compared, drain, sequentialRuns, type Raw, type Settings } from './scenarios';

const pid = (daemon: Daemon): number => daemon.child.pid as number;

/**
 * The largest node (6,000 participants, each alone in a room with a 200-byte
 * address: a 1.7 MB census) with the default limits and polling interval:
 * /signal/census latency against a bare server sending the same bytes, RSS
 * against that server holding them and against the daemon with a small
 * census, and a status change at that size.
 */
export async function largestNodeScale(settings: Settings, raw: Raw): Promise<Figure[]> {
  const snapshot = largestNode('alone');
  const node = await new FakeSignalNode().start();
  node.set('census', answer(200, snapshot.census));
  node.set('jicofoStats', answer(200, snapshot.stats, 'application/json'));
  const file = join(settings.scratch, 'largest-census.json');
  writeFileSync(file, snapshot.census);
  const reference = await startReference(settings.referenceScript, undefined, file);
  const census = { CENSUS_POLL: 'true', CENSUS_HOST: CONFERENCE_HOST };
  const daemon = await startSidecar(node, census);
  // The same daemon against the fixtures' four-room census: what the size costs.
  const small = await new FakeSignalNode().start();
  const smallDaemon = await startSidecar(small, census);
  try {
    if (settings.serverCpu !== undefined) {
      pin(reference.pid, settings.serverCpu);
      pin(pid(daemon), settings.serverCpu);
    }
    await waitFor(
      'the daemon to serve the whole census',
      () => timedGet(daemon.httpPort, '/signal/census', false).then((reply) => (reply.body.length === snapshot.census.length ? true : undefined)),
      30_000,
      200,
    );
    // RSS swings by several MiB with each poll's garbage: sampled every 0.5 s
    // over three polls at the default interval, the median taken.
    const samples = { daemon: [] as number[], reference: [] as number[], small: [] as number[] };
    for (let i = 0; i < 30; i += 1) {
      samples.daemon.push(rssMiB(pid(daemon)));
      samples.reference.push(rssMiB(reference.pid));
      samples.small.push(rssMiB(pid(smallDaemon)));
      await sleep(500);
    }
    await smallDaemon.stop();
    const settled = { daemon: spread(samples.daemon), reference: spread(samples.reference), small: spread(samples.small) };

    // 1.7 MB answers take milliseconds each: runs of at least 3 s hold a few hundred.
    const runs = await sequentialRuns(settings, daemon, reference, '/signal/census', Math.max(3, settings.metricsSeconds));
    const served = { daemon: rssMiB(pid(daemon)), reference: rssMiB(reference.pid) };
    settings.log(
      `  RSS with the census, median over 15 s: daemon ${settled.daemon.median.toFixed(1)} MiB (${settled.daemon.min.toFixed(1)}–${settled.daemon.max.toFixed(1)}; ` +
        `${served.daemon.toFixed(1)} after serving it), with the fixtures' census ${settled.small.median.toFixed(1)}, bare ${settled.reference.median.toFixed(1)} MiB (${served.reference.toFixed(1)})`,
    );
    const [drained] = await drain(settings, daemon, raw);
    raw.scale = { censusBytes: snapshot.census.length, rooms: snapshot.sizes.length, statsBytes: snapshot.stats.length, runs, settled, served, drainMs: raw.drainMs };
    const p99 = (side: 'daemon' | 'reference'): number[] => runs.map((run) => run[side].p99Ms);
    const p50 = (side: 'daemon' | 'reference'): number[] => runs.map((run) => run[side].p50Ms);
    const size = `${snapshot.sizes.length} rooms, ${(snapshot.census.length / 1e6).toFixed(1)} MB`;
    const figures: Figure[] = [
      // The daemon also polls that census every 5 s (1.7 MB read and parsed):
      // its p99 carries those polls, so the target is on the median.
      compared('scale:census:p50', `GET /signal/census median, one connection, ${size}`, 'ms', p50('daemon'), p50('reference'), 'ratio ≤ 2', (ratio) => ratio <= 2),
      compared('scale:census:p99', 'GET /signal/census p99, one connection', 'ms', p99('daemon'), p99('reference')),
      compared('scale:rss', 'RSS with that census, median over three polls', 'MiB', [settled.daemon.median], [settled.reference.median]),
      // Live: the census as received and as served (3.4 MB); the rest is each
      // poll's garbage (chunks, the body, 6,000 parsed rooms) until collected.
      alone(
        'scale:rss:growth',
        `  RSS above the same daemon with the fixtures' census (${settled.small.median.toFixed(1)} MiB)`,
        'MiB',
        spread([settled.daemon.median - settled.small.median]),
        '≤ +20 MiB',
        settled.daemon.median - settled.small.median <= 20,
      ),
    ];
    if (drained !== undefined) figures.push({ ...drained, id: 'scale:drain', name: `status file → agent says drain, with that census` });
    figures.push(alone('scale:stats', 'jicofo /stats of that node', 'bytes', spread([snapshot.stats.length])));
    return figures;
  } finally {
    await smallDaemon.stop();
    await daemon.stop();
    await reference.stop();
    await Promise.all([node.stop(), small.stop()]);
  }
}
