import type { DepsSettings } from './bench-deps.js';
import { FakeBigQuery } from './fake-bigquery.js';
import { FakeStorageWrite } from './fake-storage-write.js';
import { IA, type Endpoints, type Sink } from './sinks.js';

/**
 * Stand-ins for each API: answering at once (B: what the service itself can do) and after a real
 * round trip (what one instance sustains against BigQuery); and the emulator's endpoints beside them.
 */
export class StandIns {
  private constructor(
    readonly fake: FakeBigQuery,
    private readonly fakeWrite: FakeStorageWrite,
    private readonly slowFake: FakeBigQuery,
    private readonly slowFakeWrite: FakeStorageWrite,
    readonly instant: Endpoints,
    readonly slow: Endpoints,
    readonly emulator: Endpoints,
  ) {}

  static async start(roundTripMs: number, settings: DepsSettings): Promise<StandIns> {
    const fake = new FakeBigQuery();
    const fakeWrite = new FakeStorageWrite();
    const slowFake = new FakeBigQuery(roundTripMs);
    const slowFakeWrite = new FakeStorageWrite(roundTripMs);
    const instant: Endpoints = { rest: await fake.start(), storageWrite: await fakeWrite.start() };
    const slow: Endpoints = { rest: await slowFake.start(), storageWrite: await slowFakeWrite.start() };
    const emulator: Endpoints = {
      rest: settings.BIGQUERY_API_ENDPOINT,
      storageWrite: settings.BIGQUERY_STORAGE_API_ENDPOINT,
    };
    return new StandIns(fake, fakeWrite, slowFake, slowFakeWrite, instant, slow, emulator);
  }

  /** The stand-in that counts a sink's rows (and latency marks). */
  counterOf(sink: Sink, endpoints: Endpoints): FakeBigQuery | FakeStorageWrite {
    return endpoints === this.slow
      ? sink === IA
        ? this.slowFake
        : this.slowFakeWrite
      : sink === IA
        ? this.fake
        : this.fakeWrite;
  }

  async stop(): Promise<void> {
    await Promise.all([this.fake.stop(), this.fakeWrite.stop(), this.slowFake.stop(), this.slowFakeWrite.stop()]);
  }
}
