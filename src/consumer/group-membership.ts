/**
 * This member's place in the consumer group: whether it is in the group, the partitions of the topic
 * it owns in the current generation, and which of its assignments that is.
 */
export class GroupMembership {
  /** In the group (joined, not rebalancing or disconnected). */
  joined = false;
  owned = new Set<number>();
  /** The partitions of its last assignment, kept once it is lost: the sink closes them at the next join. */
  assigned: readonly number[] = [];
  /** Counts this member's assignments (one per join of the group): a batch of one that is over is not put into the sink. */
  assignmentId = 0;

  /** `changed` hears the partitions owned each time they change (none once the assignment is lost). */
  constructor(private readonly changed: (owned: ReadonlySet<number>) => void = () => {}) {}

  /** Joined a new generation owning `partitions`. */
  joinedOwning(partitions: readonly number[]): void {
    this.owned = new Set(partitions);
    this.joined = true;
    this.assignmentId++;
    this.changed(this.owned);
  }

  /** Out of the group until the next join: it owns nothing. */
  lost(): void {
    const had = this.owned.size > 0;
    this.joined = false;
    this.owned = new Set();
    if (had) this.changed(this.owned);
  }
}
