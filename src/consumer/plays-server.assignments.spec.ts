import kafkajs from 'kafkajs';
import { AssignmentEnded } from '../sink/sink.contract.js';
import type { PlaysServer } from './plays-server.js';
import { internals, nextOffset, payload, PLAY, server } from './plays-server.test-bed.js';

// Joins, the starts an assignment reads, and the commits: the batches' and a sink's own.

/**
 * Binds the server's events to a stand-in consumer that keeps their listeners, with the commit loop
 * and the lag timer stopped, so a test fires kafkajs' events itself.
 */
async function bindToStandIn(instance: PlaysServer) {
  const listeners = new Map<string, (event: { payload: unknown }) => void>();
  const events = kafkajs.Kafka.prototype.consumer.call(new kafkajs.Kafka({ brokers: ['127.0.0.1:1'] }), {
    groupId: 'g',
  }).events;
  const consumer = {
    events,
    on: (name: string, listener: (event: { payload: unknown }) => void) => listeners.set(name, listener),
    subscribe: () => Promise.resolve(),
    run: () => Promise.resolve(),
  };
  await instance.bindEvents(consumer as never);
  internals(instance).commits.stop();
  clearInterval(internals(instance).lagTimer);
  return { listeners, events };
}

describe('PlaysServer: an assignment of an exactly-once sink', () => {
  beforeEach(() => {
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
  });

  it('reads the starts only once the commits of the assignment before have landed or failed', async () => {
    const { instance, sink } = server();
    let landCommit!: () => void;
    const commitOffsets = vi.fn(() => new Promise<void>((resolve) => (landCommit = resolve)));
    const fetchOffsets = vi.fn(() =>
      Promise.resolve([{ topic: 'tony-allen-plays', partitions: [{ partition: 0, offset: '7', metadata: 'm' }] }]),
    );
    const admin = {
      connect: () => Promise.resolve(),
      describeCluster: () => Promise.resolve({}),
      disconnect: () => Promise.resolve(),
      fetchOffsets,
      fetchTopicOffsets: () => Promise.resolve([{ partition: 0, low: '0', high: '9' }]),
    };
    internals(instance).commits.use(commitOffsets);
    Object.assign(instance, { client: { admin: () => admin } });
    internals(instance).membership.assignmentId = 1;
    const earlier = internals(instance).assignment(1, [0]);
    // A commit of the earlier assignment still in flight while the group moves on.
    const recording = sink.record(earlier, 0, 5n, 'earlier record').catch(() => undefined);
    await vi.waitFor(() => expect(commitOffsets).toHaveBeenCalled());
    internals(instance).membership.assignmentId = 2;
    const starts = internals(instance).assignment(2, [0]).starts();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fetchOffsets).not.toHaveBeenCalled();
    landCommit();
    await recording;
    expect((await starts).get(0)).toEqual({ offset: 7n, metadata: 'm' });
    expect(fetchOffsets).toHaveBeenCalledTimes(1);
  });

  it("commits once, as the member kafkajs is now, never through kafkajs' retrying commitOffsets; a failed commit goes again only while the partition is owned", async () => {
    const { instance } = server();
    const kafkajsCommit = vi.fn(() => Promise.resolve());
    Object.assign(instance, { consumer: { commitOffsets: kafkajsCommit } });
    const batch = payload(10);
    const notCoordinator = new kafkajs.KafkaJSProtocolError({
      type: 'NOT_COORDINATOR',
      message: 'This is not the correct coordinator for this group',
      retriable: true,
    } as unknown as Error);
    batch.commitOffsetsIfNecessary.mockImplementation(() => Promise.reject(notCoordinator));
    await internals(instance).onBatch(batch);
    await Promise.all(internals(instance).puts.inProgress);
    await internals(instance).commits.commit();
    expect(batch.commitOffsetsIfNecessary).toHaveBeenCalledTimes(1);
    expect(batch.commitOffsetsIfNecessary).toHaveBeenCalledWith({
      topics: [
        { topic: 'tony-allen-plays', partitions: [{ partition: 0, offset: String(nextOffset), metadata: null }] },
      ],
    });
    // The group moves on: the commit that failed is not sent again, by the service or by kafkajs.
    internals(instance).membership.lost();
    await internals(instance).commits.commit();
    expect(batch.commitOffsetsIfNecessary).toHaveBeenCalledTimes(1);
    expect(kafkajsCommit).not.toHaveBeenCalled();
  });

  it('a commit refused because the coordinator moved (a broker restart) is sent again: the member still owns its partitions', async () => {
    const { instance } = server();
    const batch = payload(10);
    const movedCoordinator = new kafkajs.KafkaJSProtocolError({
      type: 'NOT_COORDINATOR_FOR_GROUP',
      message: 'This is not the correct coordinator for this group',
      retriable: true,
    } as unknown as Error);
    batch.commitOffsetsIfNecessary.mockImplementationOnce(() => Promise.reject(movedCoordinator));
    await internals(instance).onBatch(batch);
    await Promise.all(internals(instance).puts.inProgress);
    await internals(instance).commits.commit();
    expect(internals(instance).membership.joined).toBe(true);
    await internals(instance).commits.commit();
    expect(batch.commitOffsetsIfNecessary).toHaveBeenCalledTimes(2);
    expect(batch.commitOffsetsIfNecessary).toHaveBeenLastCalledWith({
      topics: [
        { topic: 'tony-allen-plays', partitions: [{ partition: 0, offset: String(nextOffset), metadata: null }] },
      ],
    });
  });

  it("the sink's own commit (an assignment's record) waits for the run's first batch (its way to commit), and is never sent once the assignment is over", async () => {
    const { instance, sink } = server();
    internals(instance).membership.assignmentId = 1;
    const assignment = internals(instance).assignment(1, [0]);
    const recorded = sink.record(assignment, 0, 0n, 'record of assignment 1');
    const first = payload(1);
    await internals(instance).onBatch(first);
    await recorded;
    expect(first.commitOffsetsIfNecessary).toHaveBeenCalledWith({
      topics: [
        { topic: 'tony-allen-plays', partitions: [{ partition: 0, offset: '0', metadata: 'record of assignment 1' }] },
      ],
    });
    // The generation is over: the record is refused before anything is sent (a new assignment's
    // open ends the sink's own commits of the one before, see ExactlyOnceWriter's spec).
    internals(instance).membership.lost();
    await expect(sink.record(assignment, 0, 1n, 'late record')).rejects.toBeInstanceOf(AssignmentEnded);
    expect(first.commitOffsetsIfNecessary).toHaveBeenCalledTimes(1);
  });

  it('a JoinGroup answered ends the assignment at once, before kafkajs reports the join: nothing of the old one is committed under the new generation', async () => {
    const { instance, sink } = server();
    const { listeners, events } = await bindToStandIn(instance);
    listeners.get(events.GROUP_JOIN)!({
      payload: { groupId: 'g', memberAssignment: { 'tony-allen-plays': [0] } },
    });
    const assignment = internals(instance).assignment(internals(instance).membership.assignmentId, [0]);
    const batch = payload(3);
    await internals(instance).onBatch(batch);
    await Promise.all(internals(instance).puts.inProgress);
    await sink.record(assignment, 0, 0n, 'record');
    expect(batch.commitOffsetsIfNecessary).toHaveBeenCalledTimes(1);
    // kafkajs rejoins (no REBALANCING first, as after UNKNOWN_MEMBER_ID): its JoinGroup is answered.
    listeners.get(events.REQUEST)!({ payload: { apiName: 'JoinGroup' } });
    await expect(sink.record(assignment, 0, 3n, 'late record')).rejects.toBeInstanceOf(AssignmentEnded);
    await internals(instance).commits.commit();
    expect(batch.commitOffsetsIfNecessary).toHaveBeenCalledTimes(1);
  });

  it("each join closes the partitions of the assignment before, then opens the new one's (as Kafka Connect's close and open)", async () => {
    const { instance, sink } = server();
    const { listeners, events } = await bindToStandIn(instance);
    const join = (partitions: number[]) =>
      listeners.get(events.GROUP_JOIN)!({
        payload: { groupId: 'g', memberAssignment: { 'tony-allen-plays': partitions } },
      });
    join([0, 1]);
    listeners.get(events.REBALANCING)!({ payload: {} });
    join([1]);
    expect(sink.told).toEqual(['close ', 'open 0,1', 'close 0,1', 'open 1']);
  });

  it('marks the batch that takes a partition to its end after a backlog, and only that one', async () => {
    const { instance, sink } = server();
    const play = () => JSON.stringify({ ...PLAY, timestamp: new Date().toISOString() });
    await internals(instance).onBatch(payload(2, play, 0)); // caught up from the start: no backlog
    await internals(instance).onBatch(payload(3, play, 6)); // behind
    await internals(instance).onBatch(payload(3, play, 3)); // behind
    await internals(instance).onBatch(payload(3, play, 0)); // the backlog ends
    await internals(instance).onBatch(payload(2, play, 0)); // caught up: trickling in
    await internals(instance).onBatch(payload(2, play, 5)); // a burst
    await Promise.all(internals(instance).puts.inProgress);
    expect(sink.chunks.map((chunk) => chunk.endsBacklog)).toEqual([false, false, false, true, false, false]);
    // The burst ends in a batch of dead letters only: the sink is still told, with no rows.
    await internals(instance).onBatch(payload(5, () => 'not json', 0));
    await Promise.all(internals(instance).puts.inProgress);
    expect(sink.chunks.at(-1)).toMatchObject({ endsBacklog: true, ends: new Int32Array(0) });
    expect(internals(instance).ledger.committable()).toEqual([{ partition: 0, offset: String(nextOffset) }]);
  });
});
