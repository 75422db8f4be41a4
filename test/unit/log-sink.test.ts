import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { createLogSink, type Destination } from '../../src/runtime/log-sink';

/** A stand-in for stdout or stderr: records what it was given, holds `writableLength` bytes. */
class FakeStream extends EventEmitter implements Destination {
  readonly written: string[] = [];
  writableLength = 0;
  write(chunk: string): boolean {
    this.written.push(chunk);
    return true;
  }
}

const write = (stream: NodeJS.WritableStream, line: string): Promise<void> => new Promise((done) => stream.write(line, () => done()));

void describe('log sink', () => {
  void it('writes to the first destination while it works', async () => {
    const [stdout, stderr] = [new FakeStream(), new FakeStream()];
    const sink = createLogSink([stdout, stderr]);
    await write(sink.stream, 'one\n');
    assert.deepEqual(stdout.written, ['one\n']);
    assert.deepEqual(stderr.written, []);
    assert.deepEqual(sink.dropped(), { closed: 0, full: 0 });
  });

  void it('moves to the next destination after an error, says so there once, and never goes back', async () => {
    const [stdout, stderr] = [new FakeStream(), new FakeStream()];
    const sink = createLogSink([stdout, stderr]);
    stdout.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    await write(sink.stream, 'two\n');
    assert.deepEqual(stdout.written, []);
    assert.equal(stderr.written.length, 2);
    assert.match(stderr.written[0] ?? '', /"message":"log sink failed; logging here from now on","error":"write EPIPE"/);
    assert.equal(stderr.written[1], 'two\n');
    stdout.emit('error', new Error('again'));
    assert.equal(stderr.written.length, 2, 'a second error of a broken sink says nothing more');
  });

  void it('counts lines as dropped once every destination failed', async () => {
    const [stdout, stderr] = [new FakeStream(), new FakeStream()];
    const sink = createLogSink([stdout, stderr]);
    stderr.emit('error', new Error('EPIPE'));
    stdout.emit('error', new Error('EPIPE'));
    await write(sink.stream, 'a\n');
    await write(sink.stream, 'b\n');
    assert.deepEqual(sink.dropped(), { closed: 2, full: 0 });
    assert.deepEqual([...stdout.written, ...stderr.written], []);
  });

  void it('drops lines while more than the bound waits for a slow reader, and writes again once it caught up', async () => {
    const stdout = new FakeStream();
    const sink = createLogSink([stdout], 1000);
    stdout.writableLength = 1001;
    await write(sink.stream, 'late\n');
    assert.deepEqual(sink.dropped(), { closed: 0, full: 1 });
    stdout.writableLength = 1000;
    await write(sink.stream, 'on time\n');
    assert.deepEqual(stdout.written, ['on time\n']);
  });
});
