// The top-songs dashboard: asks GET /api/top-songs and GET /api/plays-over-time for the chosen artist
// and window, and redraws the bars, the lines and the figures; the artist picker is filled from GET
// /api/artists. It asks again at once whenever GET /api/live (Server-Sent Events) says the live view
// counted new plays, and every 2 s when no such updates come (the live view off, the stream down, or a
// window BigQuery answers). The choices live in the page's URL (?artist=…&window=…), so a link shows the
// same view. dashboard-charts.js, loaded before this script, draws.
/* global $, showFreshness, renderTopSongs, renderOverTime */
'use strict';

// The picker's list changes slowly; asking for it less often leaves the query budget to the charts.
const ARTISTS_REFRESH_MS = 30000;
const LIMIT = 10;
const SONGS_OVER_TIME = 5;
// After a failure the page tries again this soon (or when a 429's Retry-After says).
const RETRY_MS = 2000;

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

function addArtistOption(name) {
  if ([...artistSelect.options].some((option) => option.value === name)) return;
  const option = document.createElement('option');
  option.value = name;
  option.textContent = name;
  artistSelect.append(option);
}

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
