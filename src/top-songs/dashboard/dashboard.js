// The top-songs dashboard: asks GET /api/top-songs and GET /api/plays-over-time for the chosen artist
// and window, and redraws the bars, the lines and the figures; the artist picker is filled from GET
// /api/artists. It asks again at once whenever GET /api/live (Server-Sent Events) says the live view
// counted new plays, and every 2 s when no such updates come (the live view off, the stream down, or a
// window BigQuery answers). The choices live in the page's URL (?artist=…&window=…), so a link shows the
// same view. Chart.js (served by the app) draws; tables beside the charts say the same for screen readers.
'use strict';

// The picker's list changes slowly; asking for it less often leaves the query budget to the charts.
const ARTISTS_REFRESH_MS = 30000;
const LIMIT = 10;
const SONGS_OVER_TIME = 5;
// After a failure the page tries again this soon (or when a 429's Retry-After says).
const RETRY_MS = 2000;

const $ = (id) => document.getElementById(id);
const windowSelect = $('window');
const artistSelect = $('artist');
const query = new URLSearchParams(location.search);
if (query.has('window')) windowSelect.value = query.get('window');
if (windowSelect.value === '') windowSelect.value = '15m';
// An artist from the URL is shown at once, before (or even without) the list of artists.
if (query.get('artist')) addArtistOption(query.get('artist'));
artistSelect.value = query.get('artist') ?? '';

// ?poll=<seconds>: how often to ask when no live updates come (2 s by default; at most a day, which
// setTimeout can still hold).
const POLL_MS = Math.min(Math.max(Number(query.get('poll')) || 2, 1), 86400) * 1000;
// While live updates come, polling is only a safety net against a lost update.
const SAFETY_POLL_MS = Math.max(60000, POLL_MS);
// When the browser gave up on a stream that had worked (e.g. a 404 after a restart with the live view off).
const LIVE_RETRY_MS = 60000;

const reducedMotion = matchMedia('(prefers-reduced-motion: reduce)').matches;
// The page's colours live in the stylesheet.
const cssColour = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const SERIES_COLOURS = Array.from({ length: 10 }, (_, i) => cssColour(`--series-${i + 1}`));

const chart = new Chart($('chart'), {
  type: 'bar',
  data: { labels: [], datasets: [{ label: 'Total Plays', data: [], backgroundColor: cssColour('--bar') }] },
  options: {
    indexAxis: 'y',
    maintainAspectRatio: false,
    // Bars glide to their new lengths, unless the viewer asked for less motion.
    animation: { duration: reducedMotion ? 0 : 300 },
    plugins: { legend: { display: false } },
    scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
  },
});

// Stacked bars, a colour a song: a bucket's height is its plays, and one song's plays never hide another's.
const overTimeChart = new Chart($('over-time'), {
  type: 'bar',
  data: { labels: [], datasets: [] },
  options: {
    maintainAspectRatio: false,
    animation: { duration: reducedMotion ? 0 : 300 },
    interaction: { mode: 'index', intersect: false },
    scales: {
      x: { stacked: true, ticks: { autoSkip: true, maxTicksLimit: 12, maxRotation: 0 } },
      y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'Plays' } },
    },
  },
});

function addArtistOption(name) {
  if ([...artistSelect.options].some((option) => option.value === name)) return;
  const option = document.createElement('option');
  option.value = name;
  option.textContent = name;
  artistSelect.append(option);
}

/** A time of day, with the date only when it is not today. */
function shownTime(iso) {
  const date = new Date(iso);
  return date.toDateString() === new Date().toDateString() ? date.toLocaleTimeString() : date.toLocaleString();
}

/** A bucket's start, as precise as its size needs. */
function bucketLabel(iso, bucketSeconds) {
  const date = new Date(iso);
  if (bucketSeconds >= 86400) return date.toLocaleDateString();
  const time = date.toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    ...(bucketSeconds < 60 ? { second: '2-digit' } : {}),
  });
  return bucketSeconds >= 3600 || date.toDateString() !== new Date().toDateString()
    ? `${date.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`
    : time;
}

const BUCKET_WORDS = { s: 'second', m: 'minute', h: 'hour', d: 'day' };
/** `10s` as `10-second`, `1m` as `1-minute`. */
function bucketWords(bucket) {
  const match = /^(\d+)([smhd])$/.exec(bucket);
  return match === null ? bucket : `${match[1]}-${BUCKET_WORDS[match[2]]}`;
}

function cells(row, texts, header = false) {
  row.replaceChildren(
    ...texts.map((text, i) => {
      const cell = document.createElement(header || i === 0 ? 'th' : 'td');
      if (header) cell.scope = 'col';
      else if (i === 0) cell.scope = 'row';
      cell.textContent = text;
      return cell;
    }),
  );
  return row;
}

let newestPlayAt = null;
let timer;
// Only the latest request renders and schedules the next, so a change of artist or window never starts a second loop.
let latest = 0;
// A request in flight, and whether a live update came meanwhile: updates coalesce into one more request.
let busy = false;
let askAgain = false;
// After a failure, live updates wait for the retry too (a 429's Retry-After holds for them as well).
let holdUntil = 0;
// The stream has delivered since it last (re)opened; the last answers came from memory (null: none yet).
let streamLive = false;
let answersLive = null;
let streamEverOpened = false;

function showFreshness() {
  if (newestPlayAt === null) return void ($('freshness').textContent = '–');
  const seconds = Math.max(0, (Date.now() - Date.parse(newestPlayAt)) / 1000);
  $('freshness').textContent =
    seconds < 60
      ? `${seconds.toFixed(1)} s`
      : seconds < 3600
        ? `${Math.floor(seconds / 60)} min`
        : `${(seconds / 3600).toFixed(1)} h`;
}

function renderTopSongs(answer) {
  const songs = answer.songs;
  chart.data.labels = songs.map((song) => song.song_name);
  chart.data.datasets[0].data = songs.map((song) => song.total_plays);
  chart.update();

  $('total-plays').textContent = answer.total_plays.toLocaleString('en');
  newestPlayAt = answer.newest_play_at;
  $('newest-play').textContent = newestPlayAt === null ? '–' : shownTime(newestPlayAt);
  showFreshness();
  $('source').textContent = answer.table;

  const rows = songs.map((song) =>
    cells(document.createElement('tr'), [
      song.song_name,
      song.total_plays.toLocaleString('en'),
      song.last_played_at === null ? '–' : shownTime(song.last_played_at),
    ]),
  );
  $('songs').tBodies[0].replaceChildren(...rows);
}

function renderOverTime(answer) {
  const labels = answer.buckets.map((bucket) => bucketLabel(bucket, answer.bucket_seconds));
  overTimeChart.data.labels = labels;
  overTimeChart.data.datasets = answer.series.map((series, i) => ({
    label: series.song_name,
    data: series.plays,
    backgroundColor: SERIES_COLOURS[i % SERIES_COLOURS.length],
  }));
  overTimeChart.update();

  $('over-time-note').textContent =
    `Top ${answer.songs} songs, plays per ${bucketWords(answer.bucket)} bucket, ${shownTime(answer.since)} to now`;
  const table = $('over-time-table');
  cells(table.tHead.rows[0], ['Bucket starting', ...answer.series.map((series) => series.song_name)], true);
  // Newest first: what a reader wants to hear first.
  const rows = answer.buckets
    .map((_, b) =>
      cells(document.createElement('tr'), [
        labels[b],
        ...answer.series.map((series) => series.plays[b].toLocaleString('en')),
      ]),
    )
    .reverse();
  table.tBodies[0].replaceChildren(...rows);
}

/** GET a JSON answer; a 429 says when to ask again. */
async function getJson(url) {
  const response = await fetch(url, { cache: 'no-store' });
  const body = await response.json().catch(() => ({}));
  if (response.ok) return body;
  const error = new Error(body.message ?? `HTTP ${response.status}`);
  error.retryAfterMs = Number(response.headers.get('Retry-After')) * 1000 || 0;
  throw error;
}

function apiQuery(parameters) {
  const search = new URLSearchParams({ window: windowSelect.value, ...parameters });
  if (artistSelect.value !== '') search.set('artist', artistSelect.value);
  return search.toString();
}

/** Live when updates come and the answers are the live view's: then each update is worth asking about. */
const isLive = () => streamLive && answersLive === true;

/** Says in the footer how the page keeps up: live, or polling (and why, when updates come but BigQuery answers). */
function showUpdates() {
  document.body.dataset.updates = isLive() ? 'live' : 'polling';
  $('updates').textContent = isLive()
    ? 'live: updated as plays arrive'
    : `polling every ${POLL_MS / 1000} s${streamLive && answersLive === false ? ' (this window is answered by BigQuery)' : ''}`;
}

async function refresh(byUpdate = false) {
  clearTimeout(timer);
  const request = ++latest;
  busy = true;
  askAgain = false;
  let failedMs = null;
  try {
    const [topSongs, overTime] = await Promise.all([
      getJson(`/api/top-songs?${apiQuery({ limit: LIMIT })}`),
      getJson(`/api/plays-over-time?${apiQuery({ songs: SONGS_OVER_TIME })}`),
    ]);
    if (request !== latest) return;
    renderTopSongs(topSongs);
    renderOverTime(overTime);
    answersLive = topSongs.source === 'live' && overTime.source === 'live';
    holdUntil = 0;
    const windowLabel = windowSelect.selectedOptions[0]?.textContent ?? topSongs.window;
    const whose = topSongs.artist === null ? '' : ` of ${topSongs.artist}`;
    $('status').textContent = topSongs.songs.length === 0 ? `No plays${whose} in the last ${windowLabel} yet.` : '';
    document.body.dataset.state = 'loaded';
  } catch (error) {
    if (request !== latest) return;
    failedMs = Math.max(RETRY_MS, error.retryAfterMs ?? 0);
    holdUntil = Date.now() + failedMs;
    document.body.dataset.state = 'error';
    $('status').textContent =
      `Cannot load the top songs: ${error.message}. Trying again in ${Math.round(failedMs / 1000)} s…`;
  } finally {
    if (request === latest) {
      busy = false;
      // After an update, one more look at the poll interval: another replica may have answered before it
      // counted the play the update was about.
      if (askAgain) timer = setTimeout(refresh, 0, true);
      else timer = setTimeout(refresh, failedMs ?? (isLive() && !byUpdate ? SAFETY_POLL_MS : POLL_MS));
      showUpdates();
    }
  }
}

/** A live update: ask again now, or right after the request in flight, unless a failure's wait holds. */
function refreshOnUpdate() {
  if (Date.now() < holdUntil) return;
  if (busy) askAgain = true;
  else void refresh(true);
}

/**
 * Listens to GET /api/live. The browser reconnects a dropped stream by itself; meanwhile the page
 * polls. A stream that never opened (404: the live view is off) is not tried again: the page polls.
 */
function listenLive() {
  const source = new EventSource('/api/live');
  source.onopen = () => void (streamEverOpened = true);
  source.onmessage = () => {
    const first = !streamLive;
    streamLive = true;
    // The first update after (re)connecting can follow a rebuild, so ask even if BigQuery answered last;
    // later ones only when memory answers (asking BigQuery a few times a second is what polling avoids).
    if (first || answersLive) refreshOnUpdate();
    showUpdates();
  };
  source.onerror = () => {
    const wasLive = isLive();
    streamLive = false;
    if (!streamEverOpened) source.close();
    else if (source.readyState === EventSource.CLOSED) setTimeout(listenLive, LIVE_RETRY_MS);
    // The next poll was a safety net's, a minute away: poll at the usual pace again.
    if (wasLive && !busy && Date.now() >= holdUntil) {
      clearTimeout(timer);
      timer = setTimeout(refresh, POLL_MS);
    }
    showUpdates();
  };
}

async function refreshArtists() {
  try {
    const answer = await getJson(`/api/artists?window=${encodeURIComponent(windowSelect.value)}`);
    for (const artist of answer.artists) addArtistOption(artist.artist);
    document.body.dataset.artists = 'loaded';
  } catch {
    // The picker keeps what it has; the charts' status line reports outages.
  } finally {
    setTimeout(refreshArtists, ARTISTS_REFRESH_MS);
  }
}

/** The page's title and heading name the artist shown. */
function showArtist() {
  const artist = artistSelect.value;
  $('heading').textContent = artist === '' ? 'Top songs' : `Top songs of ${artist}`;
  document.title = `${$('heading').textContent} · plays-pipeline`;
}

/** The choices into the URL (replacing, not adding, history), then a redraw. */
function chosen() {
  showArtist();
  const url = new URL(location.href);
  url.searchParams.set('window', windowSelect.value);
  if (artistSelect.value === '') url.searchParams.delete('artist');
  else url.searchParams.set('artist', artistSelect.value);
  history.replaceState(null, '', url);
  $('json').href = `/api/top-songs?${apiQuery({ limit: LIMIT })}`;
  void refresh();
}

windowSelect.addEventListener('change', chosen);
artistSelect.addEventListener('change', chosen);
setInterval(showFreshness, 1000);
$('json').href = `/api/top-songs?${apiQuery({ limit: LIMIT })}`;
showArtist();
showUpdates();
void refreshArtists();
void refresh();
listenLive();
