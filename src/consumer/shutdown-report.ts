import { errorText } from '../errors.js';
import type { OffsetLedger } from './offset-ledger.js';

/**
 * The last word on what was committed, read back from the group's offsets (kafkajs may have dropped
 * a commit without saying so): per partition, what is committed and what is left to redeliver.
 *
 * @param readCommitted reads the group's committed offsets; null when there is no Kafka client.
 * @param written everything buffered was written (and published) before the deadline.
 */
export async function shutdownReport(
  ledger: OffsetLedger,
  readCommitted: (() => Promise<Map<number, bigint>>) | null,
  written: boolean,
): Promise<string> {
  const taken = ledger.state().filter(({ commitPoint, pending }) => commitPoint !== null || pending > 0);
  if (taken.length === 0) return 'stopped: nothing was taken since the last commit';
  let committedOf = new Map<number, bigint>();
  if (readCommitted !== null) {
    try {
      committedOf = await readCommitted();
    } catch (error) {
      return `stopped; the group's committed offsets could not be read back (${errorText(error)}): what was written and not committed is redelivered`;
    }
  }
  const short: string[] = [];
  const ok: string[] = [];
  for (const { partition, commitPoint, pending } of taken) {
    const committed = committedOf.get(partition) ?? -1n;
    const wanted = commitPoint ?? committed;
    if (committed < wanted || pending > 0) {
      short.push(
        `partition ${partition} committed up to ${committed < 0n ? 'nothing' : committed}` +
          `${committed < wanted ? ` (written up to ${wanted}: the commit did not land)` : ''}` +
          `${pending > 0 ? `, ${pending} message(s) not yet written` : ''}`,
      );
    } else ok.push(`${partition}@${committed}`);
  }
  if (short.length === 0) return `stopped: everything taken is written and committed (${ok.join(', ')})`;
  return (
    `stopped${written ? '' : ' at the deadline'}: ${short.join('; ')}; these are redelivered to the next owner` +
    (ok.length > 0 ? `; fully committed: ${ok.join(', ')}` : '')
  );
}
