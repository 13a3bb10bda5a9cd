// about.jsx — versions, uptime, workers (pid, state, restarts, memory, live)
// and, for root, the system and the store's size and counts.
import { useEffect, useState } from 'preact/hooks';
import { about, system, workers, fetchAbout, generation } from '../store.js';
import { Page, ErrorBox, fmtTime, fmtBytes, fmtDuration, stateTag } from '../ui.jsx';

export function About() {
  const [err, setErr] = useState(null);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    fetchAbout().catch(setErr);
  }, [generation.value]);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
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
