// The top-songs dashboard: asks GET /api/top-songs every 2 s and redraws the bars and the figures.
// Chart.js (served by the app) draws; a table beside it says the same for screen readers.
'use strict';

const REFRESH_MS = 2000;
const LIMIT = 10;

const $ = (id) => document.getElementById(id);
const windowSelect = $('window');
const query = new URLSearchParams(location.search);
if (query.has('window')) windowSelect.value = query.get('window');
if (windowSelect.value === '') windowSelect.value = '15m';

const chart = new Chart($('chart'), {
  type: 'bar',
  data: {
    labels: [],
    // The bar colour is the stylesheet's --bar, so the page's colours live in one place.
    datasets: [
      {
        label: 'Total Plays',
        data: [],
        backgroundColor: getComputedStyle(document.documentElement).getPropertyValue('--bar').trim(),
      },
    ],
  },
  options: {
    indexAxis: 'y',
    maintainAspectRatio: false,
    // Bars glide to their new lengths, unless the viewer asked for less motion.
    animation: { duration: matchMedia('(prefers-reduced-motion: reduce)').matches ? 0 : 300 },
    plugins: { legend: { display: false } },
    scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
  },
});

/** A time of day, with the date only when it is not today. */
function shownTime(iso) {
  const date = new Date(iso);
  return date.toDateString() === new Date().toDateString() ? date.toLocaleTimeString() : date.toLocaleString();
}

let newestPlayAt = null;
let timer;
// Only the latest request renders and schedules the next, so a change of window never starts a second loop.
let latest = 0;

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

function render(answer) {
  const songs = answer.songs;
  chart.data.labels = songs.map((song) => song.song_name);
  chart.data.datasets[0].data = songs.map((song) => song.total_plays);
  chart.update();

  $('total-plays').textContent = answer.total_plays.toLocaleString('en');
  newestPlayAt = answer.newest_play_at;
  $('newest-play').textContent = newestPlayAt === null ? '–' : shownTime(newestPlayAt);
  showFreshness();
  $('source').textContent = answer.table;

  const rows = songs.map((song) => {
    const row = document.createElement('tr');
    for (const text of [
      song.song_name,
      song.total_plays.toLocaleString('en'),
      song.last_played_at === null ? '–' : shownTime(song.last_played_at),
    ]) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  });
  $('songs').tBodies[0].replaceChildren(...rows);

  const label = windowSelect.selectedOptions[0]?.textContent ?? answer.window;
  $('status').textContent = songs.length === 0 ? `No plays in the last ${label} yet.` : '';
  document.body.dataset.state = 'loaded';
}

async function refresh() {
  clearTimeout(timer);
  const request = ++latest;
  try {
    const url = `/api/top-songs?window=${encodeURIComponent(windowSelect.value)}&limit=${LIMIT}`;
    const response = await fetch(url, { cache: 'no-store' });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message ?? `HTTP ${response.status}`);
    if (request === latest) render(body);
  } catch (error) {
    if (request !== latest) return;
    document.body.dataset.state = 'error';
    $('status').textContent = `Cannot load the top songs: ${error.message}. Trying again…`;
  } finally {
    if (request === latest) timer = setTimeout(refresh, REFRESH_MS);
  }
}

windowSelect.addEventListener('change', () => {
  const url = new URL(location.href);
  url.searchParams.set('window', windowSelect.value);
  history.replaceState(null, '', url);
  void refresh();
});
setInterval(showFreshness, 1000);
void refresh();
