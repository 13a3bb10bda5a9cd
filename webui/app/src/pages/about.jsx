// about.jsx — versions, uptime, workers (pid, state, restarts, memory, live)
// and, for root, the system, the store's size and counts, and the store's
// size and the commits' latency over time (the history databusd keeps).
import { useEffect, useState } from 'preact/hooks';
import { about, system, workers, fetchAbout, fetchSystemHistory, systemHistory, generation, live } from '../store.js';
import { Page, ErrorBox, fmtTime, fmtBytes, fmtDuration, stateTag } from '../ui.jsx';
import { LineChart, RangeButtons, RANGES, dayHour } from '../chart.jsx';

const fmtLatency = (us) => (us >= 1000 ? `${(us / 1000).toFixed(us >= 10000 ? 0 : 1)} ms` : `${Math.round(us)} µs`);

// Root's charts: store size and commit latency, refreshed once a minute.
function SystemCharts() {
  const [range, setRange] = useState(RANGES[0]);
  const [err, setErr] = useState(null);
  const stopped = live.value === 'stopped';
  useEffect(() => {
    fetchSystemHistory(range.fetch).catch(setErr);
    if (stopped) return undefined;
    const t = setInterval(() => fetchSystemHistory(range.fetch, true).catch(setErr), 60000);
    return () => clearInterval(t);
  }, [range.fetch, stopped]);
  const h = systemHistory.value;
  const pts = h && h.range === range.fetch ? h.points.slice(-range.last) : [];
  const fmt = range.fetch === '30d' ? dayHour : undefined;
  return (
    <>
      <h2 class="subtitle is-6">Over time</h2>
      <ErrorBox error={err} onClose={() => setErr(null)} />
      <RangeButtons range={range} onChange={setRange} />
      <h3 class="is-size-7 has-text-weight-semibold">Store size used</h3>
      <LineChart label="store size" points={pts.map((p) => ({ t: p.t, value: p.used }))} fmt={fmt} unit={fmtBytes} />
      <h3 class="is-size-7 has-text-weight-semibold">Commit latency (mean)</h3>
      <LineChart label="commit latency" points={pts.map((p) => ({ t: p.t, value: p.commit_us }))} color="#f14668" fmt={fmt} unit={fmtLatency} />
    </>
  );
}

export function About() {
  const [err, setErr] = useState(null);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    fetchAbout().catch(setErr);
  }, [generation.value]);
  // The uptime counts while Databus runs; once it has stopped, it stays
  // at what it was.
  const stoppedNow = live.value === 'stopped';
  useEffect(() => {
    if (stoppedNow) return undefined;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [stoppedNow]);
  const a = about.value;
  const s = system.value;
  const ws = [...workers.items.value.values()].sort((x, y) => (x.client + x.definition).localeCompare(y.client + y.definition));
  const started = a && a.started ? new Date(a.started).getTime() : null;
  const libs = (a && (a.libraries || a.versions)) || null;
  return (
    <Page title="About">
      <ErrorBox error={err} />
      {a && (
        <div class="columns">
          <div class="column">
            <table class="table is-narrow">
              <tbody>
                <tr><th>System alias</th><td>{a.system_alias}</td></tr>
                <tr><th>Databus version</th><td id="about-version">{a.version}</td></tr>
                <tr><th>Started</th><td>{fmtTime(a.started)}</td></tr>
                <tr><th>Uptime</th><td>{started ? fmtDuration(now - started) : fmtDuration(a.uptime_ms)}</td></tr>
                {s && s.pid && <tr><th>databusd pid</th><td>{s.pid}</td></tr>}
                {s && s.web && <tr><th>databus-web</th><td>pid {s.web.pid}, {s.web.state}, {s.web.restarts} restarts, {s.web.listen}</td></tr>}
                {s && s.data_dir && <tr><th>Data directory</th><td>{s.data_dir}</td></tr>}
              </tbody>
            </table>
            {libs && (
              <>
                <h2 class="subtitle is-6">Libraries</h2>
                <table class="table is-narrow">
                  <tbody>
                    {Object.entries(libs).map(([k, v]) => (
                      <tr key={k}><th>{k}</th><td>{String(v)}</td></tr>
                    ))}
                  </tbody>
                </table>
              </>
            )}
          </div>
          {a.store && (
            <div class="column">
              <h2 class="subtitle is-6">Store</h2>
              <table class="table is-narrow">
                <tbody>
                  <tr><th>Size used</th><td>{fmtBytes(a.store.used_bytes)} of {fmtBytes(a.store.map_size)}</td></tr>
                  {['passengers', 'attachments', 'logs', 'users', 'sessions', 'events', 'commits', 'last_seq'].map((k) =>
                    a.store[k] !== undefined ? (
                      <tr key={k}><th>{k.replace('_', ' ')}</th><td>{a.store[k]}</td></tr>
                    ) : null,
                  )}
                </tbody>
              </table>
              <SystemCharts />
            </div>
          )}
        </div>
      )}
      <h2 class="subtitle is-6">Workers</h2>
      <div class="table-container">
        <table class="table is-fullwidth is-narrow" aria-label="Workers">
          <thead>
            <tr>
              <th>Client</th>
              <th>Definition</th>
              <th>Pid</th>
              <th>State</th>
              <th>Restarts</th>
              <th>Memory</th>
              <th>Started</th>
              <th>Last exit / error</th>
            </tr>
          </thead>
          <tbody>
            {ws.map((w) => (
              <tr key={`${w.client}/${w.definition}`} data-worker={`${w.client}/${w.definition}`}>
                <td>{w.client}</td>
                <td>{w.definition}</td>
                <td class="worker-pid">{w.pid || '—'}</td>
                <td>{stateTag(w.state)}</td>
                <td class="worker-restarts">{w.restarts}</td>
                <td>{w.rss_kib ? fmtBytes(w.rss_kib * 1024) : '—'}</td>
                <td class="is-size-7">{fmtTime(w.started)}</td>
                <td class="is-size-7">{[w.last_exit, w.error].filter(Boolean).join(' · ') || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Page>
  );
}
