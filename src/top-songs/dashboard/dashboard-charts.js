// The dashboard's drawing, for dashboard.js (loaded after this script, sharing its globals): the bar
// chart of the top songs, the stacked bars over time, the figures, and tables beside the charts that say
// the same for screen readers. Chart.js (served by the app) draws.
/* exported $, showFreshness, renderTopSongs, renderOverTime */
'use strict';

const $ = (id) => document.getElementById(id);

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
