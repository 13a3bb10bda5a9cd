// chart.jsx — a Chart.js line chart over a series of {t, value} points.
// `fmt` labels a point's time (default: the time of day); `unit` formats
// a value on the axis and in the tooltip. The container carries the
// number of points and their sum (data-points, data-sum), so that a test
// can tell an empty chart from one with history.
import { useEffect, useRef } from 'preact/hooks';
import { Chart, LineController, LineElement, PointElement, LinearScale, CategoryScale, Filler, Tooltip } from 'chart.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Filler, Tooltip);

const timeOfDay = (t) => new Date(t).toLocaleTimeString(undefined, { hour12: false, hour: '2-digit', minute: '2-digit' });

export function LineChart({ label, points, color = '#485fc7', fmt = timeOfDay, unit = null }) {
  const canvas = useRef(null);
  const chart = useRef(null);
  useEffect(() => {
    chart.current = new Chart(canvas.current, {
      type: 'line',
      data: { labels: [], datasets: [{ label, data: [], borderColor: color, backgroundColor: color + '33', fill: true, pointRadius: 0, tension: 0.2 }] },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          y: { beginAtZero: true, ticks: unit ? { precision: 0, callback: (v) => unit(v) } : { precision: 0 } },
          x: { ticks: { maxTicksLimit: 6 } },
        },
        plugins: {
          legend: { display: false },
          tooltip: unit ? { callbacks: { label: (c) => unit(c.parsed.y) } } : {},
        },
      },
    });
    return () => chart.current.destroy();
  }, []);
  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    c.data.labels = points.map((p) => fmt(p.t));
    c.data.datasets[0].data = points.map((p) => p.value);
    c.update('none');
  }, [points]);
  return (
    <div class="dbs-chart" data-chart={label} data-points={points.length} data-sum={points.reduce((n, p) => n + (p.value || 0), 0)}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}

// The history charts' ranges: the last hour and the last day of 1-minute
// points, the last 30 days of 1-hour points (`fetch` is the API's range,
// `last` how many of its points are shown).
export const RANGES = [
  { id: '1h', label: '1 hour', fetch: '24h', last: 60 },
  { id: '24h', label: '24 hours', fetch: '24h', last: 1440 },
  { id: '30d', label: '30 days', fetch: '30d', last: 720 },
];

export const dayHour = (t) => new Date(t).toLocaleString(undefined, { hour12: false, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

export function RangeButtons({ range, onChange }) {
  return (
    <div class="buttons has-addons" role="group" aria-label="Chart range">
      {RANGES.map((r) => (
        <button
          type="button"
          key={r.id}
          class={'button is-small' + (r.id === range.id ? ' is-link is-selected' : '')}
          aria-pressed={r.id === range.id ? 'true' : 'false'}
          onClick={() => onChange(r)}
        >
          {r.label}
        </button>
      ))}
    </div>
  );
}
