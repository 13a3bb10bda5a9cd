// chart.jsx — a Chart.js line chart over a series of {t, value} points.
import { useEffect, useRef } from 'preact/hooks';
import { Chart, LineController, LineElement, PointElement, LinearScale, CategoryScale, Filler, Tooltip } from 'chart.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Filler, Tooltip);

export function LineChart({ label, points, color = '#485fc7' }) {
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
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { ticks: { maxTicksLimit: 6 } } },
        plugins: { legend: { display: false } },
      },
    });
    return () => chart.current.destroy();
  }, []);
  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    c.data.labels = points.map((p) => new Date(p.t).toLocaleTimeString(undefined, { hour12: false }));
    c.data.datasets[0].data = points.map((p) => p.value);
    c.update('none');
  }, [points]);
  return (
    <div class="dbs-chart">
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}
