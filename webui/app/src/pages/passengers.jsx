// passengers.jsx — definitions with schedule, last/next run and state;
// Expedite; a dry run with sample files (administrators); throughput and
// queue depth over time: the history databusd keeps (the user's
// definitions summed), opened at page load, with the live store adding to
// it (store.js).
import { useEffect, useState } from 'preact/hooks';
import { useComputed } from '@preact/signals';
import { post, enc } from '../api.js';
import { defs, history, historyKey, fetchDefs, fetchHistory, generation, isAdmin } from '../store.js';
import { DryRunPanel } from '../dryrun.jsx';
import { Page, ErrorBox, Notice, fmtTime, stateTag } from '../ui.jsx';
import { LineChart, RangeButtons, RANGES, dayHour } from '../chart.jsx';

function schedule(d) {
  const ms = d.sync_period_ms;
  if (!ms) return '—';
  if (ms % 60000 === 0) return `every ${ms / 60000} min`;
  return `every ${ms / 1000} s`;
}

export function Passengers() {
  const [err, setErr] = useState(null);
  const [note, setNote] = useState('');
  const [range, setRange] = useState(RANGES[0]);
  const [chartDef, setChartDef] = useState(''); // '' = every definition
  const [dry, setDry] = useState(null); // the definition of the open dry run
  useEffect(() => {
    fetchDefs().catch(setErr);
  }, [generation.value]);
  useEffect(() => {
    fetchHistory(range.fetch, chartDef).catch(setErr);
  }, [range.fetch, chartDef, generation.value]);
  const list = useComputed(() =>
    [...defs.items.value.values()].sort((a, b) => (a.client + a.name).localeCompare(b.client + b.name)),
  );
  const shown = (h) => (h ? h.points.slice(-range.last) : []);
  const cur = history.value.get(historyKey(range.fetch, chartDef));
  const depth = shown(cur).map((h) => ({ t: h.t, value: h.depth }));
  const thru = shown(cur).map((h) => ({ t: h.t, value: h.done }));
  const per = range.fetch === '30d' ? 'hour' : 'minute';
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
                <td class="def-counts">
                  {d.pending ?? 0} / {d.done ?? 0} / {d.dead ?? 0}
                </td>
                <td class="is-size-7">{d.last_outcome || '—'}</td>
                <td>
                  <button type="button" class="button is-small is-link" onClick={() => expedite(d)} aria-label={`Expedite ${d.client}/${d.name}`}>
                    Expedite
                  </button>{' '}
                  {isAdmin() && (
                    <button type="button" class="button is-small" onClick={() => setDry(d)} aria-label={`Dry run ${d.client}/${d.name}`}>
                      Dry run
                    </button>
                  )}
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
      <div class="field is-grouped is-grouped-multiline">
        <div class="control">
          <div class="select is-small">
            <select aria-label="Chart definition" value={chartDef} onChange={(e) => setChartDef(e.currentTarget.value)}>
              <option value="">All definitions</option>
              {list.value.map((d) => (
                <option key={`${d.client}/${d.name}`} value={`${d.client}/${d.name}`}>
                  {d.client}/{d.name}
                </option>
              ))}
            </select>
          </div>
        </div>
        <div class="control">
          <RangeButtons range={range} onChange={setRange} />
        </div>
      </div>
      {dry && <DryRunPanel key={`${dry.client}/${dry.name}`} client={dry.client} name={dry.name} onClose={() => setDry(null)} />}
      <div class="columns">
        <div class="column">
          <h2 class="subtitle is-6">Throughput (passengers done per {per})</h2>
          <LineChart label="throughput" points={thru} color="#48c78e" fmt={range.fetch === '30d' ? dayHour : undefined} />
        </div>
        <div class="column">
          <h2 class="subtitle is-6">Queue depth (pending passengers)</h2>
          <LineChart label="queue depth" points={depth} fmt={range.fetch === '30d' ? dayHour : undefined} />
        </div>
      </div>
    </Page>
  );
}
