/* eslint-disable no-console -- the demo talks to a person on a terminal */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/config';
import { createLogger } from '../runtime/logger';
import { createSidecar } from '../sidecar';
import { FakeSignalNode, REPLIES, type Reply } from './fake-signal-node';

/**
 * `npm run demo`: a simulated signal node (jicofo and prosody answering with
 * real payloads) and the sidecar in front of it, with short intervals so grace
 * and dampening can be watched. Break and heal it from the keyboard or over HTTP.
 */

const JICOFO_MODES: Readonly<Record<string, { reply: () => Reply; label: string }>> = {
  healthy: { reply: REPLIES.jicofoHealthy, label: 'jicofo healthy (200)' },
  soft: { reply: REPLIES.jicofoSoftDown, label: 'jicofo soft down (503): drain grace first' },
  down: { reply: REPLIES.jicofoHardDown, label: 'jicofo hard down (500): down at once' },
  hang: { reply: () => ({ kind: 'hang' }), label: 'jicofo hangs: down after the probe timeout' },
};

const KEYS: Readonly<Record<string, string>> = { h: 'healthy', s: 'soft', b: 'down', g: 'hang' };
const STATUS_KEYS: Readonly<Record<string, string>> = { r: 'ready', d: 'drain', m: 'maint' };

async function main(): Promise<void> {
  const node = await new FakeSignalNode().start();
  const dir = mkdtempSync(join(tmpdir(), 'signal-sidecar-demo-'));
  const statusFile = join(dir, 'shard-status');
  writeFileSync(statusFile, 'ready\n');

  const { config, problems } = loadConfig({
    POLLING_INTERVAL: '1',
    HEALTH_DAMPENING_INTERVAL: '10',
    DRAIN_GRACE_INTERVAL: '15',
    PROBE_TIMEOUT: '2',
    LOG_LEVEL: 'error',
    ...process.env,
    JICOFO_ORIG: node.jicofoOrigin,
    PROSODY_ORIG: node.prosodyOrigin,
    STATUS_PATH: statusFile,
  });
  if (config === undefined) {
    for (const problem of problems) console.error(`bad configuration: ${problem}`);
    process.exit(78);
  }
  const sidecar = createSidecar(config, { logger: createLogger(config.logLevel) });
  const { http: rest, agent } = await sidecar.start();

  const setJicofo = (mode: string): boolean => {
    const chosen = JICOFO_MODES[mode];
    if (chosen === undefined) return false;
    node.set('jicofoHealth', chosen.reply());
    console.log(`\n>>> ${chosen.label}`);
    return true;
  };
  const setStatus = (word: string): void => {
    writeFileSync(statusFile, `${word}\n`);
    console.log(`\n>>> status file: ${word}`);
  };

  const control = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://demo');
    const jicofo = url.searchParams.get('jicofo');
    const status = url.searchParams.get('status');
    if (jicofo !== null && !setJicofo(jicofo)) {
      res.writeHead(400).end(`jicofo must be one of ${Object.keys(JICOFO_MODES).join(', ')}\n`);
      return;
    }
    if (status !== null) setStatus(status);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(`${sidecar.state.current?.reportBody ?? '{}'}\n`);
  });
  await new Promise<void>((done) => control.listen(0, '127.0.0.1', done));
  const controlPort = (control.address() as { port: number }).port;

  const base = `http://localhost:${rest.port}`;
  console.log(`signal-sidecar demo: a simulated signal node and the sidecar in front of it

  health check   ${base}/signal/health
  report         ${base}/signal/report
  metrics        ${base}/metrics
  HAProxy agent  localhost:${agent.port}   (try: node -e "require('net').connect(${agent.port}).pipe(process.stdout)")
  fake jicofo    ${node.jicofoOrigin}   fake prosody ${node.prosodyOrigin}
  status file    ${statusFile}

Polling every 1 s, drain grace 15 s, health dampening 10 s.
Keys: b break jicofo (500) · s soft-down jicofo (503) · g hang jicofo · h heal jicofo
      d drain · m maint · r ready · q quit
HTTP: curl 'http://localhost:${controlPort}/?jicofo=down'   (healthy|soft|down|hang; also ?status=drain)
`);

  let lastLine = '';
  sidecar.state.onDecision((_previous, next) => {
    if (next.decision.agentLine === lastLine) return;
    lastLine = next.decision.agentLine;
    const reasons = next.decision.reasons.join('; ');
    const verdict = next.decision.report.agentmessage.padEnd(16);
    console.log(`${new Date().toISOString().slice(11, 19)}  agent: ${verdict}${reasons === '' ? '' : `  why: ${reasons}`}`);
  });

  const quit = async (): Promise<void> => {
    await sidecar.stop();
    control.close();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGINT', () => void quit());
  process.on('SIGTERM', () => void quit());

  if (process.stdin.isTTY) {
    process.stdin.setRawMode(true);
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (key: string) => {
      if (key === 'q' || key === '\u0003') void quit();
      else if (KEYS[key] !== undefined) setJicofo(KEYS[key]);
      else if (STATUS_KEYS[key] !== undefined) setStatus(STATUS_KEYS[key]);
    });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
