import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPLIES, answer } from '../../src/demo/fake-signal-node';
import { freePort, sleep } from '../../test/helpers/daemon';
import { UpstreamProcess } from '../../test/helpers/upstream-process';
import { ShardFront } from './front';
import { SidecarProcess, type SidecarCommand } from './sidecar-process';

/**
 * One shard of the fleet: jicofo and prosody each a process of their own
 * (prosody's process also serves the shard's conferences, jicofo's holds its
 * link to prosody), its nginx in front of them, the sidecar watching them,
 * and its status file. Jicofo's /stats counts the shard's participants, as
 * the real one does, unless a fault says otherwise.
 */
export class FleetShard {
  /** A count a fault makes jicofo report instead of the real one. */
  private forcedParticipants: number | null = null;
  private reported = '';
  private conferences = 0;
  /** How the operator sets the status word: the file, or (with --consul) a write to the shard's key. */
  statusVia: ((word: string) => Promise<void>) | undefined;

  private constructor(
    readonly name: string,
    readonly jicofo: UpstreamProcess,
    readonly prosody: UpstreamProcess,
    readonly sidecar: SidecarProcess,
    /** The shard's nginx: the address HAProxy sends participants to. */
    readonly front: ShardFront,
    /** Prosody's conference port behind it. */
    readonly conferencePort: number,
    private readonly dir: string,
  ) {}

  get statusFile(): string {
    return join(this.dir, 'shard-status');
  }

  /** The sidecar's PARTICIPANT_MAX. */
  get participantMax(): number {
    return Number(this.sidecar.env.PARTICIPANT_MAX ?? 5000);
  }

  /** Makes jicofo report `participants` whatever the shard holds; null: its real count again. */
  reportParticipants(participants: number | null): void {
    this.forcedParticipants = participants;
    if (participants !== null) void this.report(participants, this.conferences);
  }

  /** The shard's real participants and conferences, for jicofo's /stats unless a fault holds another count. */
  countParticipants(participants: number, conferences: number): void {
    this.conferences = conferences;
    if (this.forcedParticipants === null) void this.report(participants, conferences);
  }

  private async report(participants: number, conferences: number): Promise<void> {
    const reply = `${participants}/${conferences}`;
    if (reply === this.reported) return;
    this.reported = reply;
    await this.jicofo.set('jicofoStats', REPLIES.statsWith(participants, conferences)).catch(() => undefined);
  }

  /**
   * Starts the shard's processes on free ports. Another suite on the machine
   * can take a port between the check and the bind; then the shard is
   * started again on others, a few times.
   */
  static async start(name: string, launch: SidecarCommand, settings: Readonly<Record<string, string>>): Promise<FleetShard> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await FleetShard.startOnce(name, launch, settings);
      } catch (error) {
        if (attempt >= 3 || !String(error).includes('EADDRINUSE')) throw error;
      }
    }
  }

  private static async startOnce(name: string, launch: SidecarCommand, settings: Readonly<Record<string, string>>): Promise<FleetShard> {
    const dir = mkdtempSync(join(tmpdir(), `fleet-${name}-`));
    const [conferencePort, componentPort, httpPort, tcpPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const started: { stop(): Promise<void> }[] = [];
    try {
      const prosody = await UpstreamProcess.start('prosody', 0, { conferences: { shard: name, port: conferencePort, componentPort } });
      started.push(prosody);
      // A new prosody has no rooms (the fake's default census is the fixtures' four).
      await prosody.set('census', answer(200, JSON.stringify({ room_census: [] })));
      const jicofo = await UpstreamProcess.start('jicofo', 0, { componentPort });
      started.push(jicofo);
      const statusFile = join(dir, 'shard-status');
      writeFileSync(statusFile, 'ready\n');
      const sidecar = new SidecarProcess(`sidecar-${name}`, launch, {
        ...settings,
        HTTP_PORT: String(httpPort),
        TCP_PORT: String(tcpPort),
        HTTP_HOST: '127.0.0.1',
        TCP_HOST: '127.0.0.1',
        JICOFO_ORIG: jicofo.origin,
        PROSODY_ORIG: prosody.origin,
        STATUS_PATH: statusFile,
      });
      started.push(sidecar);
      await sidecar.start();
      const front = await ShardFront.start(conferencePort);
      return new FleetShard(name, jicofo, prosody, sidecar, front, conferencePort, dir);
    } catch (error) {
      await Promise.all(started.map((process) => process.stop()));
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** As `signal-sidecar drain` writes it (a new file renamed over the old one), or through Consul. */
  async setStatus(word: string): Promise<void> {
    if (this.statusVia !== undefined) {
      await this.statusVia(word);
      return;
    }
    const temporary = `${this.statusFile}.new`;
    writeFileSync(temporary, `${word}\n`);
    renameSync(temporary, this.statusFile);
  }

  /** Sessions per room, as the shard itself counts them (undefined when it does not answer: prosody stopped). */
  async rooms(timeoutMs = 1000): Promise<Record<string, number> | undefined> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.conferencePort}/rooms`, { signal: AbortSignal.timeout(timeoutMs) });
      return ((await response.json()) as { rooms: Record<string, number> }).rooms;
    } catch {
      return undefined;
    }
  }

  /**
   * Prosody's /room-census (mod_muc_census) follows the rooms the shard
   * serves: each room's JID on `host` and its sessions. Undefined rooms
   * (prosody stopped) leave the last census in place, as a hung prosody would.
   */
  async refreshCensus(host: string): Promise<void> {
    const rooms = await this.rooms();
    if (rooms === undefined) return;
    const census = Object.entries(rooms).map(([room, participants]) => ({ room_name: `${room}@${host}`, participants }));
    // A prosody stopped since the rooms were read never takes it: the fleet's feed does not wait for it.
    await Promise.race([this.prosody.set('census', answer(200, JSON.stringify({ room_census: census }))).catch(() => undefined), sleep(1000)]);
  }

  async stop(): Promise<void> {
    this.prosody.signal('SIGCONT');
    await Promise.all([this.front.close(), this.sidecar.stop(), this.jicofo.stop(), this.prosody.stop()]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
