// queue.jsx — the queue (server-side paging, filters, search by id, Purge)
// and a passenger's page (clickable step statuses, requeue of a dead
// passenger, attachments viewed safely, its logs).
import { useEffect, useState } from 'preact/hooks';
import { get, post, qs, enc } from '../api.js';
import { queue, fetchOnce, generation, live, me, isAdmin, isRoot, defs, fetchDefs, details, setDetail } from '../store.js';
import { Page, Pager, ErrorBox, Notice, Link, fmtTime, fmtBytes, stateTag, ActionButton, fmtEntry } from '../ui.jsx';
import { navigate } from '../router.js';
import { EmailView, isEmail } from '../email.jsx';
import { DryRunPanel } from '../dryrun.jsx';

const LIMIT = 50;

function matches(p, f) {
  if (f.client && p.client !== f.client) return false;
  if (f.passenger && p.definition !== f.passenger) return false;
  if (f.state && p.state !== f.state) return false;
  if (f.q) {
    // As the server: a number is an internal id, anything else a part
    // of the external id.
    if (/^\d+$/.test(f.q)) return String(p.id) === f.q;
    if (!(p.external_id || '').includes(f.q)) return false;
  }
  return true;
}

export function Queue() {
  const root = isRoot();
  const [form, setForm] = useState({ client: '', passenger: '', state: '', q: '' });
  const [f, setF] = useState(form);
  const [cursors, setCursors] = useState([0]); // cursor of each page seen
  const [next, setNext] = useState({}); // page cursor -> next_cursor
  const [err, setErr] = useState(null);
  const [note, setNote] = useState('');
  const cursor = cursors[cursors.length - 1];
  const filter = { ...f, client: root ? f.client : me.value.client };

  useEffect(() => {
    fetchDefs().catch(() => {});
  }, [generation.value]);
  useEffect(() => {
    const params = { client: root ? f.client : '', passenger: f.passenger, state: f.state, q: f.q, cursor: cursor || '', limit: LIMIT };
    const url = '/api/v1/queue' + qs(params);
    fetchOnce(url, async () => {
      const r = await get(url);
      queue.upsert(r.items);
      setNext((n) => ({ ...n, [cursor]: r.next_cursor }));
    }).catch(setErr);
  }, [f, cursor, generation.value]);

  const rows = [...queue.items.value.values()]
    .filter((p) => matches(p, filter) && (!cursor || p.id <= cursor))
    .sort((a, b) => b.id - a.id)
    .slice(0, LIMIT);
  const clients = [...new Set([...defs.items.value.values()].map((d) => d.client))];
  const definitions = [...defs.items.value.values()].filter((d) => !filter.client || d.client === filter.client);

  const apply = (e) => {
    e.preventDefault();
    setF({ ...form, q: form.q.trim() });
    setCursors([0]);
  };
  const purge = async () => {
    const body = {};
    if (filter.client) body.client = filter.client;
    if (filter.client && f.passenger) body.passenger = f.passenger;
    const r = await post('/api/v1/queue/purge', body);
    setNote(r && r.message ? r.message : `Purged ${r && r.purged !== undefined ? r.purged : ''} completed passengers.`);
    if (live.value !== 'open')
      queue.removeWhere((p) => p.state === 'done' && (!body.client || p.client === body.client) && (!body.passenger || p.definition === body.passenger));
  };
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const nextCursor = next[cursor];
  return (
    <Page
      title="Queue"
      actions={
        isAdmin() && (
          <ActionButton class="is-danger is-light" action={purge} onError={setErr} confirm="Remove the completed passengers of this selection from the queue?">
            Purge completed
          </ActionButton>
        )
      }
    >
      <ErrorBox error={err} onClose={() => setErr(null)} />
      <Notice>{note}</Notice>
      <form class="box py-3" onSubmit={apply} aria-label="Queue filters">
        <div class="columns is-multiline is-vcentered">
          {root && (
            <div class="column is-narrow">
              <label class="label is-small" for="qf-client">Client</label>
              <div class="select is-small">
                <select id="qf-client" value={form.client} onChange={set('client')}>
                  <option value="">all</option>
                  {clients.map((c) => (
                    <option key={c}>{c}</option>
                  ))}
                </select>
              </div>
            </div>
          )}
          <div class="column is-narrow">
            <label class="label is-small" for="qf-def">Definition</label>
            <div class="select is-small">
              <select id="qf-def" value={form.passenger} onChange={set('passenger')} disabled={root && !form.client}>
                <option value="">all</option>
                {definitions.map((d) => (
                  <option key={d.name}>{d.name}</option>
                ))}
              </select>
            </div>
          </div>
          <div class="column is-narrow">
            <label class="label is-small" for="qf-state">State</label>
            <div class="select is-small">
              <select id="qf-state" value={form.state} onChange={set('state')}>
                <option value="">any</option>
                <option>pending</option>
                <option>done</option>
                <option>dead</option>
              </select>
            </div>
          </div>
          <div class="column">
            <label class="label is-small" for="qf-q">Search (id or external id)</label>
            <input id="qf-q" class="input is-small" type="search" value={form.q} onInput={set('q')} />
          </div>
          <div class="column is-narrow">
            <button type="submit" class="button is-small is-primary">
              Apply
            </button>
          </div>
        </div>
      </form>
      <div class="table-container">
        <table class="table is-fullwidth is-hoverable is-narrow dbs-cards" aria-label="Queue">
          <thead>
            <tr>
              <th>Id</th>
              <th>Client</th>
              <th>Definition</th>
              <th>External id</th>
              <th>State</th>
              <th>Steps</th>
              <th>Created</th>
              <th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((p) => (
              <tr key={`${p.client}/${p.id}`} data-id={p.id}>
                <td data-label="Id">
                  <Link href={`/queue/${enc(p.client)}/${p.id}`}>#{p.id}</Link>
                </td>
                <td data-label="Client">{p.client}</td>
                <td data-label="Definition">{p.definition}</td>
                <td data-label="External id" class="is-size-7 dbs-wrap q-ext">{p.external_id}</td>
                <td data-label="State" class="q-state">{stateTag(p.state)}</td>
                <td data-label="Steps" class="q-steps">
                  <div class="tags">
                    {(p.steps || []).map((s) => (
                      <span key={s.name} class={`tag is-small ${s.state === 'complete' ? 'is-success is-light' : s.state === 'skipped' ? 'is-light' : 'is-warning is-light'}`} title={`${s.kind} ${s.name}: ${s.state}`}>
                        {s.name}
                      </span>
                    ))}
                  </div>
                </td>
                <td data-label="Created" class="is-size-7">{fmtTime(p.created)}</td>
                <td data-label="Updated" class="is-size-7">{fmtTime(p.updated)}</td>
              </tr>
            ))}
            {rows.length === 0 && (
              <tr>
                <td colSpan={8}>No passengers.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pager cursors={cursors} setCursors={setCursors} nextCursor={nextCursor} />
    </Page>
  );
}

// ---------------------------------------------------------------- detail

function Attachment({ client, id, a }) {
  const url = `/api/v1/queue/${enc(client)}/${id}/attachment?name=${enc(a.name)}`;
  const [text, setText] = useState(null);
  const [show, setShow] = useState(false);
  const [err, setErr] = useState(null);
  const type = a.content_type || '';
  const isMail = isEmail(a.name, type);
  const isText = !isMail && (type.startsWith('text/') || type === 'application/json');
  const isImage = /^image\/(png|jpeg|gif|webp)$/.test(type);
  const isPdf = type === 'application/pdf' || /\.pdf$/i.test(a.name);
  const view = async () => {
    setErr(null);
    if (show) {
      setShow(false);
      return;
    }
    if (isText && text === null) {
      try {
        const r = await get(url, { raw: true });
        setText(await r.text());
      } catch (e) {
        setErr(e);
        return;
      }
    }
    setShow(true);
  };
  return (
    <li class="mb-2" data-attachment={a.name}>
      <strong>{a.name}</strong> <span class="is-size-7">({type || 'unknown type'}, {fmtBytes(a.size)})</span>{' '}
      {(isText || isImage || isMail || isPdf) && (
        <button type="button" class="button is-small is-text" onClick={view} aria-expanded={show ? 'true' : 'false'}>
          {show ? 'Hide' : 'View'}
        </button>
      )}
      <a class="button is-small is-text" href={`${url}&download=1`} download={a.name}>
        Download
      </a>
      <ErrorBox error={err} />
      {show && isText && <pre class="dbs-pre attachment-text">{text}</pre>}
      {show && isImage && <img class="dbs-attachment-img" src={url} alt={a.name} />}
      {show && isMail && <EmailView url={url} />}
      {show && isPdf && (
        <p class="notification is-light mt-2 pdf-note">
          PDFs are not shown inside Databus: attachments are served in a sandbox (so that nothing stored can run
          as a page here), and browsers do not open their PDF viewer in one.{' '}
          <a class="button is-small is-link" href={`${url}&download=1`} download={a.name}>
            Download {a.name}
          </a>{' '}
          to open it with your PDF reader.
        </p>
      )}
    </li>
  );
}

export function QueueItem({ client, id }) {
  const key = `${client}/${id}`;
  const [err, setErr] = useState(null);
  const [missing, setMissing] = useState(false);
  const [dry, setDry] = useState(false);
  const url = `/api/v1/queue/${enc(client)}/${enc(id)}`;
  const detailLogs = details.value.get(url) || [];
  const load = async () => {
    try {
      const r = await get(url);
      queue.upsert([r.passenger]);
      setDetail(url, r.logs || []);
    } catch (e) {
      if (e.status === 404) setMissing(true);
      else setErr(e);
    }
  };
  useEffect(() => {
    fetchOnce(url, load).catch(setErr);
  }, [generation.value]);
  const p = queue.items.value.get(key);
  const admin = isAdmin();
  const afterChange = (r) => {
    if (r && r.passenger) queue.upsert([r.passenger]);
    else if (r && r.id !== undefined && r.steps) queue.upsert([r]);
    else if (live.value !== 'open') load();
  };
  const toggle = async (s) => {
    setErr(null);
    try {
      afterChange(await post(`${url}/steps`, { step: s.name, complete: s.state !== 'complete' }));
    } catch (e) {
      setErr(e);
    }
  };
  if (!p && (missing || details.value.has(url)))
    return (
      <Page title={`Passenger ${client}/#${id}`}>
        <p>No such passenger (it may have been purged).</p>
      </Page>
    );
  if (!p)
    return (
      <Page title={`Passenger ${client}/#${id}`}>
        <ErrorBox error={err} />
        <p>Loading…</p>
      </Page>
    );
  return (
    <Page
      title={`Passenger ${client}/#${id}`}
      actions={
        <>
          {admin && p.state === 'dead' && (
            <ActionButton class="is-warning" action={() => post(`${url}/steps`, { requeue: true })} onDone={afterChange} onError={setErr}>
              Requeue
            </ActionButton>
          )}
          {admin && (
            <button type="button" class="button" onClick={() => setDry(true)} aria-label="Dry run this passenger">
              Dry run
            </button>
          )}
          <button type="button" class="button" onClick={() => navigate('/queue')}>
            Back to the queue
          </button>
        </>
      }
    >
      <ErrorBox error={err} onClose={() => setErr(null)} />
      {dry && <DryRunPanel client={client} name={p.definition} passenger={p.id} onClose={() => setDry(false)} />}
      <div class="columns">
        <div class="column">
          <table class="table is-narrow">
            <tbody>
              <tr><th>Definition</th><td>{p.definition}</td></tr>
              <tr><th>Puller</th><td>{p.puller}</td></tr>
              <tr><th>External id</th><td>{p.external_id}</td></tr>
              <tr><th>State</th><td id="passenger-state">{stateTag(p.state)}</td></tr>
              <tr><th>Created</th><td>{fmtTime(p.created)}</td></tr>
              <tr><th>Updated</th><td>{fmtTime(p.updated)}</td></tr>
              <tr><th>Attempts</th><td>{p.attempts}</td></tr>
              {p.last_error && <tr><th>Last error</th><td class="has-text-danger">{p.last_error}</td></tr>}
            </tbody>
          </table>
          {p.metadata && Object.keys(p.metadata).length > 0 && (
            <>
              <h2 class="subtitle is-6">Metadata</h2>
              <table class="table is-narrow">
                <tbody>
                  {Object.entries(p.metadata).map(([k, v]) => (
                    <tr key={k}><th>{k}</th><td>{typeof v === 'string' ? v : JSON.stringify(v)}</td></tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
        </div>
        <div class="column">
          <h2 class="subtitle is-6">Steps {admin && <span class="is-size-7">(click a status to toggle it)</span>}</h2>
          <table class="table is-narrow is-fullwidth" aria-label="Steps">
            <thead><tr><th>Step</th><th>Kind</th><th>Status</th><th>Attempts</th><th>Error</th></tr></thead>
            <tbody>
              {(p.steps || []).map((s) => (
                <tr key={s.name} data-step={s.name}>
                  <td>{s.name}</td>
                  <td>{s.kind}</td>
                  <td>
                    {admin ? (
                      <button type="button" class={`button is-small step-toggle ${s.state === 'complete' ? 'is-success' : 'is-warning'}`} onClick={() => toggle(s)} aria-label={`${s.name} is ${s.state}; mark it ${s.state === 'complete' ? 'incomplete' : 'complete'}`}>
                        {s.state}
                      </button>
                    ) : (
                      stateTag(s.state)
                    )}
                  </td>
                  <td>{s.attempts}</td>
                  <td class="is-size-7">{s.error}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2 class="subtitle is-6">Attachments</h2>
          <ul>
            {(p.attachments || []).map((a) => (
              <Attachment key={a.name} client={client} id={p.id} a={a} />
            ))}
            {(p.attachments || []).length === 0 && <li>None.</li>}
          </ul>
        </div>
      </div>
      <h2 class="subtitle is-6">Logs of this passenger</h2>
      {detailLogs.length === 0 && <p>No log mentions this passenger.</p>}
      {detailLogs.map((l) => (
        <div class="box py-2" key={l.id}>
          <p class="is-size-7">
            <Link href={`/logs/${enc(l.client)}/${l.id}`}>Log #{l.id}</Link> · {l.definition} · {fmtTime(l.started)} · {l.level} · {l.outcome}
          </p>
          <pre class="dbs-pre is-size-7">{(l.entries || []).map(fmtEntry).join('\n')}</pre>
        </div>
      ))}
    </Page>
  );
}
