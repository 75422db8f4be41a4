import type http from 'node:http';
import { sleep, waitFor } from '../../test/helpers/daemon';
import type { Ledger } from './ledger';
import { Participant, type ClientEvents, type ClientSettings } from './participant';

/**
 * Every participant of the run, grouped by room, and the fleet's background
 * life: participants reload or join late (a new joiner of a running
 * conference every ~100 ms), and small conferences end while new ones start
 * (every second; a third reuse an ended room's name, as recurring meetings do).
 */

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
  private readonly retiredNames: string[] = [];
  private nextRoom = 0;
  private churning = false;
  private churn: Promise<void> = Promise.resolve();

  constructor(
    sizes: readonly number[],
    private readonly random: () => number,
    client: ClientSettings,
    private readonly ledger: Ledger,
    agent: http.Agent,
  ) {
    const events: ClientEvents = {
      joined: (participant, shard) => ledger.joined(participant.id, participant.room, shard),
      ended: (participant, _shard, cause) => ledger.ended(participant.id, cause),
      failed: (_participant, why) => ledger.failed(why),
    };
    for (const size of sizes) {
      const room = this.newName();
      const members = Array.from({ length: size }, () => {
        const participant = new Participant(this.participants.length, room, client, events, agent);
        this.participants.push(participant);
        return participant;
      });
      this.rooms.set(room, members);
    }
  }

  get live(): Participant[] {
    return this.participants.filter((participant) => participant.live);
  }

  /** Everyone joins within `warmupMs`, in random order; resolves when 99 % are in. */
  async join(warmupMs: number): Promise<void> {
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
        const live = this.live;
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

  private newName(): string {
    const name = roomName(this.nextRoom, this.random);
    this.nextRoom += 1;
    return name;
  }

  /** A small conference whose participants are all in ends; they start another, sometimes under an ended room's name. */
  private replaceConference(): void {
    const small = [...this.rooms].filter(([, members]) => members.length <= 3 && members.every((p) => p.live));
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
