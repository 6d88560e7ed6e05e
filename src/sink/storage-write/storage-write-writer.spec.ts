import { EventEmitter } from 'node:events';
import streamConnectionModule from '@google-cloud/bigquery-storage/build/src/managedwriter/stream_connection.js';

const { StreamConnection } = streamConnectionModule;

// Why the writer does not use the package's managed writer (createWriteClient's comment): what its
// in-band retry does to the order of appends, pinned to the pinned version.
describe("the managed writer's in-band retry (@google-cloud/bigquery-storage StreamConnection)", () => {
  it('sends the failed append again behind the appends already in flight, so they land before it', async () => {
    const sent: number[] = [];
    const connection = Object.assign(new EventEmitter(), {
      destroyed: false,
      closed: false,
      write(request: { offset: number }, done: (error?: Error) => void) {
        sent.push(request.offset);
        done();
        return true;
      },
      end() {},
      destroy() {},
    });
    const writeClient = {
      _retrySettings: { enableWriteRetries: true, maxRetryAttempts: 4 },
      getClient: () => ({ appendRows: () => connection }),
    };
    const stream = new StreamConnection('projects/p/datasets/d/tables/t/streams/s', writeClient as never);
    const writes = [1, 2, 3].map((offset) => stream.write({ offset } as never));
    const answered: number[] = [];
    writes.forEach((write, i) => void write.getResult().then(() => answered.push(i + 1)));

    // The first append's answer is a retryable error (UNAVAILABLE); the next answers are successes.
    connection.emit('data', { error: { code: 14, message: 'unavailable' } });
    for (let i = 0; i < 3; i++) connection.emit('data', { appendResult: {} });
    await Promise.all(writes.map((write) => write.getResult()));

    expect(sent).toEqual([1, 2, 3, 1]);
    expect(answered).toEqual([2, 3, 1]);
  });
});
