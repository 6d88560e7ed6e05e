import { AssignmentEnded, type OffsetCommit } from '../../sink.contract.js';

interface Waiting {
  commit: OffsetCommit;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * The commits the lanes ask for of their own (a new stream's record before its first append, a
 * refusal's count), waiting for the consumer's commit path: handed to it by preCommit, settled by
 * committed. One per partition at a time (a lane waits for its record to land before anything else).
 */
export class OwnCommits {
  private readonly waiting = new Map<number, Waiting>();

  constructor(private readonly requestCommit: () => void) {}

  /** Has `metadata` committed at `offset` for `partition`; resolves once it landed, rejects if it did not. */
  commit(partition: number, offset: bigint, metadata: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.get(partition)?.reject(new AssignmentEnded(`a newer commit of partition ${partition} replaced it`));
      this.waiting.set(partition, { commit: { partition, offset, metadata }, resolve, reject });
      this.requestCommit();
    });
  }

  has(partition: number): boolean {
    return this.waiting.has(partition);
  }

  /** The commits waiting, to go out with the next offset commit. */
  pending(): OffsetCommit[] {
    return [...this.waiting.values()].map(({ commit }) => commit);
  }

  /** Settles the waiting commits among `commits` (see PlaySink.committed). */
  settle(commits: readonly OffsetCommit[], failure?: unknown): void {
    for (const commit of commits) {
      const waiting = this.waiting.get(commit.partition);
      if (waiting?.commit !== commit) continue;
      this.waiting.delete(commit.partition);
      if (failure === undefined) waiting.resolve();
      else waiting.reject(failure);
    }
  }

  /** The assignment is over: no commit waiting will land. */
  end(reason: string): void {
    for (const waiting of this.waiting.values()) waiting.reject(new AssignmentEnded(reason));
    this.waiting.clear();
  }
}
