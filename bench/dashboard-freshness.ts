// The dashboard's freshness: how long after a play is produced into Kafka a viewer of GET /dashboard
// sees it, with the service at its default settings writing to the real BigQuery emulator. The viewer
// asks GET /api/top-songs as the page does: again 2 s after each answer.

const DASHBOARD_REFRESH_MS = 2_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface TopSongsAnswer {
  total_plays: number;
}

/**
 * Produces `samples` plays one at a time, each at a random moment of the viewer's 2 s cycle, and
 * returns for each the milliseconds from its send until the first answer the viewer got that counts it.
 */
export async function measureDashboardFreshness(
  baseUrl: string,
  produceOnePlay: () => Promise<void>,
  samples: number,
): Promise<number[]> {
  let seen = 0;
  let stopped = false;
  const answers: (() => void)[] = [];
  const viewer = (async () => {
    while (!stopped) {
      const response = await fetch(`${baseUrl}/api/top-songs?window=15m&limit=10`);
      if (response.ok) seen = ((await response.json()) as TopSongsAnswer).total_plays;
      for (const wake of answers.splice(0)) wake();
      await sleep(DASHBOARD_REFRESH_MS);
    }
  })();
  const nextAnswer = () => new Promise<void>((resolve) => answers.push(resolve));

  const delays: number[] = [];
  try {
    for (let sample = 1; sample <= samples; sample++) {
      await sleep(Math.random() * DASHBOARD_REFRESH_MS);
      const sentAt = Date.now();
      await produceOnePlay();
      const deadline = sentAt + 60_000;
      while (seen < sample) {
        if (Date.now() > deadline) throw new Error(`play ${sample} not on the dashboard after 60 s`);
        await nextAnswer();
      }
      delays.push(Date.now() - sentAt);
    }
  } finally {
    stopped = true;
    await viewer;
  }
  return delays;
}
