import { FakeSignalNode, type Endpoint, type Reply } from '../../src/demo/fake-signal-node';
import { holdComponentLink, serveConferences, type ConferenceSettings } from './conference-server';

/**
 * One simulated upstream (jicofo or prosody) as a process of its own, so a
 * test can kill it (-9), stop it (SIGSTOP) or let it exit the way the real
 * process would. Started by UpstreamProcess; argv[2] is its JSON settings.
 */

interface Settings {
  readonly component: 'jicofo' | 'prosody';
  readonly port: number;
  /** prosody: also serve the shard's conferences (test/helpers/conference-server.ts). */
  readonly conferences?: ConferenceSettings;
  /** jicofo: hold a connection to prosody's component port. */
  readonly componentPort?: number;
}

interface SetMessage {
  readonly endpoint: Endpoint;
  readonly reply: Reply;
}

async function main(): Promise<void> {
  const settings = JSON.parse(process.argv[2] ?? '{}') as Settings;
  const node = new FakeSignalNode();
  // Only the component's own port is fixed; the other server of the fake stays unused.
  await (settings.component === 'jicofo' ? node.start(settings.port, 0) : node.start(0, settings.port));
  const origin = settings.component === 'jicofo' ? node.jicofoOrigin : node.prosodyOrigin;
  if (settings.conferences !== undefined) await serveConferences(settings.conferences);
  if (settings.componentPort !== undefined) holdComponentLink(settings.componentPort);
  process.on('message', (message: SetMessage) => {
    node.set(message.endpoint, message.reply);
    process.send?.({ ack: message.endpoint });
  });
  // The parent going away ends the child: nothing is left listening.
  process.on('disconnect', () => process.exit(0));
  process.send?.({ origin });
}

main().catch((error: unknown) => {
  process.stderr.write(`upstream child failed: ${String(error)}\n`);
  process.exit(1);
});
