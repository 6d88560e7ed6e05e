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
  try {
    return await sampleDelays(samples, produceOnePlay, () => seen, nextAnswer, 'the dashboard');
  } finally {
    stopped = true;
    await viewer;
  }
}

/**
 * The same through the live view, as the dashboard page does it with LIVE_ENABLED: it listens to
 * GET /api/live (Server-Sent Events) and asks GET /api/top-songs again on each event. Returns for
 * each play the milliseconds from its send until the first answer that counts it.
 */
export async function measureLiveFreshness(
  baseUrl: string,
  produceOnePlay: () => Promise<void>,
  samples: number,
): Promise<number[]> {
  let seen = 0;
  const answers: (() => void)[] = [];
  const stop = new AbortController();
  const events = await fetch(`${baseUrl}/api/live`, { signal: stop.signal });
  if (!events.ok || events.body === null) throw new Error(`GET /api/live answered ${events.status}`);
  const viewer = (async () => {
    const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) return;
      text += value;
      // One refresh per event, as the page coalesces them.
      if (!text.includes('\n\n')) continue;
      text = text.slice(text.lastIndexOf('\n\n') + 2);
      const response = await fetch(`${baseUrl}/api/top-songs?window=15m&limit=10`);
      if (response.ok) seen = ((await response.json()) as TopSongsAnswer).total_plays;
      for (const wake of answers.splice(0)) wake();
    }
  })();
  const nextAnswer = () => new Promise<void>((resolve) => answers.push(resolve));
  try {
    // An event may be missed between two looks: ask again after a second without one.
    return await sampleDelays(
      samples,
      produceOnePlay,
      () => seen,
      () => Promise.race([nextAnswer(), sleep(1_000)]),
      'the live dashboard',
    );
  } finally {
    stop.abort();
    await viewer;
  }
}

/**
 * Produces `samples` plays one at a time, each at a random moment of a 2 s cycle, and returns for
 * each the milliseconds from its send until the viewer's answers count it (`seen()` plays).
 */
async function sampleDelays(
  samples: number,
  produceOnePlay: () => Promise<void>,
  seen: () => number,
  nextAnswer: () => Promise<void>,
  viewer: string,
): Promise<number[]> {
  const delays: number[] = [];
  for (let sample = 1; sample <= samples; sample++) {
    await sleep(Math.random() * DASHBOARD_REFRESH_MS);
    const sentAt = Date.now();
    await produceOnePlay();
    const deadline = sentAt + 60_000;
    while (seen() < sample) {
      if (Date.now() > deadline) throw new Error(`play ${sample} not on ${viewer} after 60 s`);
      await nextAnswer();
    }
    delays.push(Date.now() - sentAt);
  }
  return delays;
}
