import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignalState } from '../../src/decide/state';
import { SETTINGS, samples } from '../helpers/samples';

const T0 = Date.UTC(2026, 0, 1);

/** The one shared state on an injected clock: polls recorded at chosen moments, settings changed between them. */
function stateAt(settings = SETTINGS) {
  let now = T0;
  const state = new SignalState(settings, () => now);
  return {
    state,
    at(seconds: number) {
      now = T0 + seconds * 1000;
    },
    agent: () => state.current?.decision.agentLine.replace(/ # .*/s, '').trimEnd() ?? '',
  };
}

/** Healthy at 0 s, then jicofo soft down (503) from 10 s: a drain grace from 10 s. */
function inGrace() {
  const node = stateAt();
  node.state.record(samples());
  node.at(10);
  node.state.record(samples({ jicofo: 503 }));
  return node;
}

/**
 * A reload keeps the flap memory. A changed interval applies to an episode
 * in progress as if it had been in force all along: grace ends at the
 * episode's start + the new DRAIN_GRACE_INTERVAL, dampening at the last
 * unhealthy poll + the new HEALTH_DAMPENING_INTERVAL.
 */
void describe('new settings on an episode in progress', () => {
  void it('a longer drain grace extends a grace in progress', () => {
    const node = inGrace();
    assert.equal(node.agent(), 'up drain 0%');
    node.at(100);
    node.state.reconfigure({ ...SETTINGS, drainGraceMs: 300_000 });
    node.at(200);
    node.state.record(samples({ jicofo: 503 }));
    assert.equal(node.agent(), 'up drain 0%', 'past the old grace (10 + 120), inside the new one (10 + 300)');
    node.at(320);
    node.state.record(samples({ jicofo: 503 }));
    assert.equal(node.agent(), 'down ready 100%');
  });

  void it('a shorter drain grace that has already run out ends the grace at the reload', () => {
    const node = inGrace();
    node.at(100);
    node.state.reconfigure({ ...SETTINGS, drainGraceMs: 60_000 });
    assert.equal(node.agent(), 'down ready 100%', 'the grace ended at 10 + 60');
  });

  void it('a shorter drain grace still running goes on to its new end', () => {
    const node = inGrace();
    node.at(30);
    node.state.reconfigure({ ...SETTINGS, drainGraceMs: 60_000 });
    assert.equal(node.agent(), 'up drain 0%');
    assert.equal(node.state.current?.decision.reconsiderAt, T0 + 70_000);
  });

  void it('dampening in progress follows a longer or shorter interval from the last unhealthy poll', () => {
    const node = stateAt();
    node.state.record(samples());
    node.at(10);
    node.state.record(samples({ jicofo: 500 }));
    node.at(15);
    node.state.record(samples());
    assert.equal(node.agent(), 'down ready 100%', 'dampened until 10 + 30');
    node.state.reconfigure({ ...SETTINGS, healthDampeningMs: 60_000 });
    node.at(45);
    node.state.record(samples());
    assert.equal(node.agent(), 'down ready 100%', 'dampened until 10 + 60 now');
    node.state.reconfigure({ ...SETTINGS, healthDampeningMs: 20_000 });
    assert.equal(node.agent(), 'up ready 100%', '10 + 20 is past: healthy at the reload');
  });

  void it('a reload that changes nothing about flapping leaves the verdict and its end as they were', () => {
    const node = inGrace();
    const before = node.state.current?.decision;
    node.at(20);
    node.state.reconfigure({ ...SETTINGS });
    assert.equal(node.agent(), 'up drain 0%');
    assert.equal(node.state.current?.decision.reconsiderAt, before?.reconsiderAt);
    assert.deepEqual(node.state.current?.decision.memory, before?.memory, 'flap memory kept');
  });

  void it('a new PARTICIPANT_MAX is judged at once, without waiting for a poll', () => {
    const node = stateAt();
    node.state.record(samples());
    assert.equal(node.agent(), 'up ready 100%');
    node.state.reconfigure({ ...SETTINGS, participantMax: 10 });
    assert.equal(node.agent(), 'up drain 0%');
  });

  void it('new thresholds count the polls already in the streak', () => {
    const node = stateAt({ ...SETTINGS, healthDampeningMs: 0, unhealthyThreshold: 3 });
    node.state.record(samples());
    node.at(5);
    node.state.record(samples({ jicofo: 500 }));
    node.at(10);
    node.state.record(samples({ jicofo: 500 }));
    assert.equal(node.agent(), 'up ready 100%', '2 of 3 unhealthy polls');
    node.state.reconfigure({ ...SETTINGS, healthDampeningMs: 0, unhealthyThreshold: 2 });
    node.at(15);
    node.state.record(samples({ jicofo: 500 }));
    assert.equal(node.agent(), 'down ready 100%');
    node.state.close();
  });
});
