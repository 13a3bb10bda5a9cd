// logs.jsx — the logs of the drives (level, time, outcome), one log's
// entries, and Purge.
import { useEffect, useState } from 'preact/hooks';
import { get, post, qs, enc } from '../api.js';
import { logs, fetchOnce, generation, live, isAdmin, isRoot, me } from '../store.js';
import { Page, ErrorBox, Notice, Link, fmtTime, stateTag, ActionButton } from '../ui.jsx';
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
      <nav class="buttons" aria-label="pages">
        <button type="button" class="button is-small" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← Newer
        </button>
        <span class="mx-2 is-size-7">page {cursors.length}</span>
        <button type="button" class="button is-small" disabled={!nextCursor} onClick={() => setCursors([...cursors, nextCursor])}>
          Older →
        </button>
      </nav>
    </Page>
  );
}

export function LogItem({ client, id }) {
  const [log, setLog] = useState(null);
  const [err, setErr] = useState(null);
  const url = `/api/v1/logs/${enc(client)}/${enc(id)}`;
  useEffect(() => {
    get(url)
      .then((r) => setLog(r.log))
      .catch(setErr);
  }, [url]);
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
          <pre class="dbs-pre" aria-label="Log entries">
            {(log ? log.entries || [] : []).map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('\n')}
          </pre>
        </>
      )}
    </Page>
  );
}
