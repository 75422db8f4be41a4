import { sleep, waitFor } from '../../test/helpers/daemon';
import { Browser } from './browser';
import type { Ledger } from './ledger';
import { Participant, type ClientEvents } from './participant';
import type { RegionalBalancer } from './regional-balancer';
import type { ClientKind, ClientSettings } from './session';

/**
 * Every participant of the run, grouped by room, and the fleet's background
 * life: participants reload or join late (a new joiner of a running
 * conference every ~100 ms), and small conferences end while new ones start
 * (every second; a third reuse an ended room's name, as recurring meetings do).
 */

/** `--clients`: every participant on a websocket, every one on BOSH, or rooms of each kind and rooms mixing both. */
export type ClientModel = 'websocket' | 'bosh' | 'mixed';

/** Room names as jitsi-meet sends them: lowercased words, some with a tenant. */
function roomName(index: number, random: () => number): string {
  const words = ['weekly', 'standup', 'sales', 'review', 'design', 'sync', 'allhands', 'support', 'class', 'lecture', 'family', 'interview', 'board', 'retro'];
  const pick = (): string => words[Math.floor(random() * words.length)] ?? 'room';
  const name = `${pick()}${pick()}${pick()}-${index}`;
  return random() < 0.2 ? `[tenant${index % 7}]${name}` : name;
}

export class Crowd {
  readonly participants: Participant[] = [];
  readonly rooms = new Map<string, Participant[]>();
  /** Rooms whose participants neither churn nor end their conference: they run for the whole bench. */
  private readonly steady = new Set<string>();
  private readonly retiredNames: string[] = [];
  private readonly events: ClientEvents;
  private nextRoom = 0;
  private churning = false;
  private churn: Promise<void> = Promise.resolve();

  constructor(
    sizes: readonly number[],
    private readonly random: () => number,
    private readonly client: ClientSettings,
    private readonly ledger: Ledger,
    private readonly balancer: RegionalBalancer,
    private readonly model: ClientModel,
  ) {
    this.events = {
      joined: (participant, shard, via) => ledger.joined(participant.id, participant.room, shard, via),
      ended: (participant, _shard, cause) => ledger.ended(participant.id, cause),
      failed: (_participant, why) => ledger.failed(why),
    };
    for (const size of sizes) this.addRoom(this.newName(), this.kindsFor(size));
  }

  get live(): Participant[] {
    return this.participants.filter((participant) => participant.live);
  }

  /**
   * The clients of a room of `size`: with `mixed`, a third of the rooms on
   * websockets, a third on BOSH, and a third mixing both.
   */
  kindsFor(size: number, model: ClientModel = this.model): ClientKind[] {
    if (model !== 'mixed') return Array.from({ length: size }, () => model);
    const roll = this.random();
    const whole: ClientKind | null = roll < 1 / 3 ? 'websocket' : roll < 2 / 3 ? 'bosh' : null;
    return Array.from({ length: size }, () => whole ?? (this.random() < 0.5 ? 'websocket' : 'bosh'));
  }

  /**
   * A room with one participant of each kind given, not joined yet. `via`:
   * the HAProxy each one reaches (clients in different regions), else any.
   */
  addRoom(room: string, kinds: readonly ClientKind[], options: { via?: readonly number[]; steady?: boolean } = {}): Participant[] {
    const members = kinds.map((kind, index) => {
      const browser = new Browser(this.balancer, options.via?.[index % options.via.length]);
      const participant = new Participant(this.participants.length, room, kind, this.client, this.events, browser);
      this.participants.push(participant);
      return participant;
    });
    this.rooms.set(room, [...(this.rooms.get(room) ?? []), ...members]);
    if (options.steady === true) this.steady.add(room);
    return members;
  }

  /** Ends a room for good: its participants leave and stay away. */
  removeRoom(room: string): void {
    this.dismiss(this.rooms.get(room) ?? []);
    this.rooms.delete(room);
    this.steady.delete(room);
  }

  /** These participants leave for good. */
  dismiss(participants: readonly Participant[]): void {
    const gone = new Set(participants);
    for (const member of participants) {
      member.leave(null);
      member.stop();
    }
    for (const [room, members] of this.rooms) this.rooms.set(room, members.filter((member) => !gone.has(member)));
  }

  /**
   * Rooms that run for the whole bench without churn, on one kind of client
   * (websockets, unless the run is BOSH only), started with everyone else.
   */
  addSteadyRooms(count: number): void {
    for (let index = 0; index < count; index += 1) this.addRoom(this.newName(), [this.steadyKind, this.steadyKind], { steady: true });
  }

  get steadyKind(): ClientKind {
    return this.model === 'bosh' ? 'bosh' : 'websocket';
  }

  steadyRooms(): string[] {
    return [...this.steady];
  }

  /** When the steady rooms started (performance.now()). */
  steadySince = 0;

  /** Everyone joins within `warmupMs`, in random order; resolves when 99 % are in. */
  async join(warmupMs: number): Promise<void> {
    this.steadySince = performance.now();
    for (const participant of this.participants) participant.join(this.random() * warmupMs);
    await waitFor('participants to join', () => (this.live.length >= this.participants.length * 0.99 ? true : undefined), warmupMs + 60_000, 200).catch((error: unknown) => {
      throw new Error(`${String(error)}; ${this.live.length} live; failed joins: ${JSON.stringify(Object.fromEntries(this.ledger.failures))}`);
    });
  }

  startChurn(): void {
    this.churning = true;
    this.churn = (async () => {
      for (let tick = 1; this.churning; tick += 1) {
        await sleep(100);
        const live = this.live.filter((participant) => !this.steady.has(participant.room));
        live[Math.floor(this.random() * live.length)]?.leave(500 + this.random() * 1500);
        if (tick % 10 === 0) this.replaceConference();
      }
    })();
  }

  async stop(): Promise<void> {
    this.churning = false;
    await this.churn;
    for (const participant of this.participants) participant.stop();
  }

  newName(): string {
    const name = roomName(this.nextRoom, this.random);
    this.nextRoom += 1;
    return name;
  }

  /** A small conference whose participants are all in ends; they start another, sometimes under an ended room's name. */
  private replaceConference(): void {
    const small = [...this.rooms].filter(([room, members]) => !this.steady.has(room) && members.length <= 3 && members.every((p) => p.live));
    const ending = small[Math.floor(this.random() * small.length)];
    if (ending === undefined) return;
    const [old, members] = ending;
    const reuse = this.retiredNames.length > 0 && this.random() < 0.33;
    const name = reuse ? (this.retiredNames.splice(Math.floor(this.random() * this.retiredNames.length), 1)[0] ?? '') : this.newName();
    this.rooms.delete(old);
    for (const member of members) member.leave(null);
    this.ledger.retired(old);
    this.retiredNames.push(old);
    this.rooms.set(name, members);
    for (const member of members) {
      member.room = name;
      member.join(1000 + this.random() * 2000);
    }
  }
}
