// passengers.jsx — definitions with schedule, last/next run and state;
// Expedite; throughput and queue depth over time from the live store.
import { useEffect, useState } from 'preact/hooks';
import { useComputed } from '@preact/signals';
import { post, enc } from '../api.js';
import { defs, history, fetchDefs, generation } from '../store.js';
import { Page, ErrorBox, Notice, fmtTime, stateTag } from '../ui.jsx';
import { LineChart } from '../chart.jsx';

function schedule(d) {
  const ms = d.sync_period_ms;
  if (!ms) return '—';
  if (ms % 60000 === 0) return `every ${ms / 60000} min`;
  return `every ${ms / 1000} s`;
}

export function Passengers() {
  const [err, setErr] = useState(null);
  const [note, setNote] = useState('');
  useEffect(() => {
    fetchDefs().catch(setErr);
  }, [generation.value]);
  const list = useComputed(() =>
    [...defs.items.value.values()].sort((a, b) => (a.client + a.name).localeCompare(b.client + b.name)),
  );
  const depth = useComputed(() => history.value.map((h) => ({ t: h.t, value: h.depth })));
  const thru = useComputed(() => history.value.map((h) => ({ t: h.t, value: h.done })));
  const expedite = async (d) => {
    setErr(null);
    setNote('');
    try {
      const r = await post(`/api/v1/passengers/${enc(d.client)}/${enc(d.name)}/expedite`, {});
      setNote(r.message || `${d.client}/${d.name} expedited`);
    } catch (e) {
      setErr(e);
    }
  };
  return (
    <Page title="Passengers">
      <ErrorBox error={err} onClose={() => setErr(null)} />
      <Notice>{note}</Notice>
      <div class="table-container">
        <table class="table is-fullwidth is-hoverable is-narrow">
          <thead>
            <tr>
              <th>Client</th>
              <th>Definition</th>
              <th>Schedule</th>
              <th>Last run</th>
              <th>Next run</th>
              <th>State</th>
              <th>Pending / done / dead</th>
              <th>Last outcome</th>
              <th>
                <span class="is-sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.value.map((d) => (
              <tr key={`${d.client}/${d.name}`} data-def={`${d.client}/${d.name}`}>
                <td>{d.client}</td>
                <td>{d.name}</td>
                <td>{schedule(d)}</td>
                <td>{fmtTime(d.last_run)}</td>
                <td>{fmtTime(d.next_run)}</td>
                <td>
                  {d.driving ? stateTag('running') : stateTag((d.worker && d.worker.state) || 'unknown')}
                </td>
                <td>
                  {d.pending ?? 0} / {d.done ?? 0} / {d.dead ?? 0}
                </td>
                <td class="is-size-7">{d.last_outcome || '—'}</td>
                <td>
                  <button type="button" class="button is-small is-link" onClick={() => expedite(d)} aria-label={`Expedite ${d.client}/${d.name}`}>
                    Expedite
                  </button>
                </td>
              </tr>
            ))}
            {list.value.length === 0 && (
              <tr>
                <td colSpan={9}>No passenger definitions.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <div class="columns">
        <div class="column">
          <h2 class="subtitle is-6">Throughput (passengers done per 2 s)</h2>
          <LineChart label="throughput" points={thru.value} color="#48c78e" />
        </div>
        <div class="column">
          <h2 class="subtitle is-6">Queue depth (pending passengers)</h2>
          <LineChart label="queue depth" points={depth.value} />
        </div>
      </div>
    </Page>
  );
}
