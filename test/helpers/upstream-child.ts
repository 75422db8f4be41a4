import { FakeSignalNode, type Endpoint, type Reply } from '../../src/demo/fake-signal-node';
import { holdComponentLink, serveConferences } from './conference-server';
import type { UpstreamOptions } from './upstream-process';

/**
 * One simulated upstream (jicofo or prosody) as a process of its own, so a
 * test can kill it (-9), stop it (SIGSTOP) or let it exit the way the real
 * process would. Started by UpstreamProcess; argv[2] is its JSON settings.
 */

interface Settings extends UpstreamOptions {
  readonly component: 'jicofo' | 'prosody';
  readonly port: number;
}

type Message = { readonly endpoint: Endpoint; readonly reply: Reply } | { readonly count: Endpoint };

async function main(): Promise<void> {
  const settings = JSON.parse(process.argv[2] ?? '{}') as Settings;
  const node = new FakeSignalNode(settings.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: settings.idleTimeoutMs });
  // Only the component's own port is fixed; the other server of the fake stays unused.
  await (settings.component === 'jicofo' ? node.start(settings.port, 0) : node.start(0, settings.port));
  const origin = settings.component === 'jicofo' ? node.jicofoOrigin : node.prosodyOrigin;
  if (settings.conferences !== undefined) await serveConferences(settings.conferences);
  if (settings.componentPort !== undefined) holdComponentLink(settings.componentPort);
  process.on('message', (message: Message) => {
    if ('count' in message) {
      process.send?.({ counted: message.count, requests: node.count(message.count) });
      return;
    }
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
