// logs.jsx — the logs of the drives (level, time, outcome), one log's
// entries, and Purge. One log shows its summary (the entries about no
// passenger) and, folded, what the drive did passenger by passenger —
// pulled, processed, pushed where — each linked to its passenger.
import { useEffect, useState } from 'preact/hooks';
import { get, post, qs, enc } from '../api.js';
import { logs, fetchOnce, generation, live, isAdmin, isRoot, me, details, setDetail } from '../store.js';
import { Page, Pager, ErrorBox, Notice, Link, fmtTime, stateTag, ActionButton, fmtEntry } from '../ui.jsx';
import { navigate } from '../router.js';

const LIMIT = 50;

function levelTag(level) {
  const cls = { error: 'is-danger', warning: 'is-warning', info: 'is-info is-light', debug: 'is-light' }[level] || 'is-light';
  return <span class={`tag ${cls}`}>{level}</span>;
}

export function Logs() {
  const [cursors, setCursors] = useState([0]);
  const [next, setNext] = useState({});
  const [err, setErr] = useState(null);
  const [note, setNote] = useState('');
  const [days, setDays] = useState('');
  const cursor = cursors[cursors.length - 1];
  useEffect(() => {
    const url = '/api/v1/logs' + qs({ cursor: cursor || '', limit: LIMIT });
    fetchOnce(url, async () => {
      const r = await get(url);
      logs.upsert(r.items);
      setNext((n) => ({ ...n, [cursor]: r.next_cursor }));
    }).catch(setErr);
  }, [cursor, generation.value]);
  const rows = [...logs.items.value.values()]
    .filter((l) => !cursor || l.id <= cursor)
    .sort((a, b) => b.id - a.id)
    .slice(0, LIMIT);
  const purge = async () => {
    const body = {};
    if (!isRoot()) body.client = me.value.client;
    const n = parseInt(days, 10);
    if (n > 0) body.older_than_days = n;
    const r = await post('/api/v1/logs/purge', body);
    setNote(r && r.message ? r.message : 'Logs purged.');
    if (live.value !== 'open') {
      const limit = n > 0 ? Date.now() - n * 86400000 : Infinity;
      logs.removeWhere((l) => (!body.client || l.client === body.client) && new Date(l.started).getTime() < limit);
    }
  };
  const nextCursor = next[cursor];
  return (
    <Page
      title="Log"
      actions={
        isAdmin() && (
          <>
            <div class="field has-addons mb-0">
              <label class="label is-small mr-2 mt-2" for="log-days">Older than (days, empty: all)</label>
              <input id="log-days" class="input is-small" type="number" min="1" value={days} onInput={(e) => setDays(e.target.value)} />
            </div>
            <ActionButton class="is-danger is-light" action={purge} onError={setErr} confirm="Remove these logs?">
              Purge logs
            </ActionButton>
          </>
        )
      }
    >
      <ErrorBox error={err} onClose={() => setErr(null)} />
      <Notice>{note}</Notice>
      <div class="table-container">
        <table class="table is-fullwidth is-hoverable is-narrow" aria-label="Logs">
          <thead>
            <tr>
              <th>Id</th>
              <th>Level</th>
              <th>Time</th>
              <th>Client</th>
              <th>Definition</th>
              <th>Outcome</th>
              <th>Pulled / seated / completed / failed / dead</th>
              <th>Entries</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((l) => (
              <tr key={`${l.client}/${l.id}`} data-id={l.id}>
                <td>
                  <Link href={`/logs/${enc(l.client)}/${l.id}`}>#{l.id}</Link>
                </td>
                <td>{levelTag(l.level)}</td>
                <td class="is-size-7">{fmtTime(l.started)}</td>
                <td>{l.client}</td>
                <td>{l.definition}</td>
                <td>{l.outcome}</td>
                <td>
                  {l.pulled} / {l.seated} / {l.completed} / {l.failed} / {l.dead}
                </td>
                <td>{l.entry_count}</td>
              </tr>
            ))}
            {rows.length === 0 && (
              <tr>
                <td colSpan={8}>No logs.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pager cursors={cursors} setCursors={setCursors} nextCursor={nextCursor} />
    </Page>
  );
}

// A log's entries: the lines about no passenger (the drive's summary,
// system happenings) always shown; those about a passenger in a table,
// folded unless one of them is a warning or an error.
function Entries({ client, entries }) {
  const general = entries.filter((e) => !e.passenger_id);
  const each = entries.filter((e) => e.passenger_id);
  const trouble = each.some((e) => e.level === 'warning' || e.level === 'error');
  const passengers = new Set(each.map((e) => e.passenger_id)).size;
  return (
    <>
      <pre class="dbs-pre" aria-label="Log summary">
        {general.length ? general.map(fmtEntry).join('\n') : 'No summary lines.'}
      </pre>
      {each.length > 0 && (
        <details class="mt-3" id="log-details" open={trouble}>
          <summary>
            What the drive did: {each.length} step(s) of {passengers} passenger(s)
          </summary>
          <div class="table-container">
            <table class="table is-narrow is-fullwidth is-size-7" aria-label="Log entries">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Level</th>
                  <th>Passenger</th>
                  <th>Step</th>
                  <th>What</th>
                </tr>
              </thead>
              <tbody>
                {each.map((e, i) => (
                  <tr key={i}>
                    <td>{fmtTime(e.time)}</td>
                    <td>{levelTag(e.level)}</td>
                    <td>
                      <Link href={`/queue/${enc(client)}/${e.passenger_id}`}>#{e.passenger_id}</Link>
                    </td>
                    <td>{e.step}</td>
                    <td class="dbs-wrap">{e.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      )}
    </>
  );
}

export function LogItem({ client, id }) {
  const [err, setErr] = useState(null);
  const url = `/api/v1/logs/${enc(client)}/${enc(id)}`;
  useEffect(() => {
    fetchOnce(url, async () => setDetail(url, (await get(url)).log)).catch(setErr);
  }, [url, generation.value]);
  const log = details.value.get(url) || null;
  const summary = logs.items.value.get(`${client}/${id}`);
  const l = log || summary;
  return (
    <Page
      title={`Log ${client}/#${id}`}
      actions={
        <button type="button" class="button" onClick={() => navigate('/logs')}>
          Back to the log
        </button>
      }
    >
      <ErrorBox error={err} />
      {l && (
        <>
          <p class="mb-3">
            {levelTag(l.level)} {l.definition} · drive {l.drive_id} · {fmtTime(l.started)} → {fmtTime(l.finished)} · {stateTag(l.outcome)}
          </p>
          {l.dropped_entries > 0 && <p class="help">{l.dropped_entries} entries were dropped (too many).</p>}
          {log && <Entries client={client} entries={log.entries || []} />}
        </>
      )}
    </Page>
  );
}
