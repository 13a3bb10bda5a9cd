// export.jsx — sync export (the archive downloads at once), async export
// (runs in the background without pausing intake; progress is live) and,
// for root, the other targets — a hot copy of the whole store (an LMDB
// file), a PostgreSQL database given by its parameters — and the import
// of an archive (import.jsx). The form asks for the chosen target's
// parameters only.
import { useEffect, useState } from 'preact/hooks';
import { get, request, post, enc, saveResponse } from '../api.js';
import { exportsColl, fetchOnce, generation, live, isRoot, me, defs, fetchDefs } from '../store.js';
import { Page, ErrorBox, Notice, fmtTime, fmtBytes, stateTag } from '../ui.jsx';
import { ImportBox } from './import.jsx';

export function Export() {
  const root = isRoot();
  const [client, setClient] = useState(root ? '' : me.value.client);
  const [err, setErr] = useState(null);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState('');
  const [target, setTarget] = useState('archive');
  const [pg, setPg] = useState({ host: '', port: '5432', database: '', user: '', password: '', schema: 'databus' });
  const setPgField = (k) => (e) => setPg({ ...pg, [k]: e.target.value });
  const load = async () => exportsColl.upsert((await get('/api/v1/exports')).items);
  useEffect(() => {
    fetchDefs().catch(() => {});
    fetchOnce('/api/v1/exports', load).catch(setErr);
  }, [generation.value]);
  // Without the live stream, poll running exports for their progress.
  const running = [...exportsColl.items.value.values()].some((e) => e.state === 'running');
  useEffect(() => {
    if (!running || live.value === 'open') return;
    const t = setInterval(() => load().catch(() => {}), 1000);
    return () => clearInterval(t);
  }, [running, live.value]);
  const body = (mode) => {
    if (mode === 'hot_copy') return { mode };
    const b = client ? { client, mode } : { mode };
    if (target !== 'postgres') return b;
    const port = Number(pg.port);
    return {
      ...b,
      target: 'postgres',
      postgres: {
        host: pg.host,
        port: Number.isInteger(port) && pg.port !== '' ? port : pg.port,
        database: pg.database,
        user: pg.user,
        password: pg.password || null,
        schema: pg.schema,
      },
    };
  };
  const run = async (mode) => {
    setErr(null);
    setNote('');
    setBusy(mode);
    try {
      if (mode === 'sync' && target === 'postgres') {
        const r = await post('/api/v1/export', body(mode));
        setNote(`Copied ${r.passengers} passengers, ${r.logs} logs and ${r.users} users into ${r.destination} (schema ${r.schema}); ${r.duplicates} passengers were there already.`);
      } else if (mode === 'sync') {
        const res = await request('POST', '/api/v1/export', body(mode), { raw: true });
        const name = await saveResponse(res, `databus-export-${client || 'all'}.json`);
        setNote(`Downloaded ${name}.`);
      } else {
        const r = await post('/api/v1/export', body(mode));
        if (r && r.id) exportsColl.upsert([r]);
        setNote(mode === 'hot_copy' ? 'Hot copy started.' : 'Export started in the background.');
      }
    } catch (e) {
      setErr(e);
    } finally {
      setBusy('');
    }
  };
  const list = [...exportsColl.items.value.values()].sort((a, b) => String(b.created).localeCompare(String(a.created)));
  const clients = [...new Set([...defs.items.value.values()].map((d) => d.client))];
  return (
    <Page title="Export">
      <ErrorBox error={err} onClose={() => setErr(null)} />
      <Notice>{note}</Notice>
      <div class="box">
        {root && (
          <div class="field">
            <label class="label" for="exp-target">Target</label>
            <div class="select">
              <select id="exp-target" value={target} onChange={(e) => setTarget(e.target.value)}>
                <option value="archive">JSON archive</option>
                <option value="lmdb">LMDB store file (hot copy)</option>
                <option value="postgres">PostgreSQL database</option>
              </select>
            </div>
          </div>
        )}
        {root && target !== 'lmdb' && (
          <div class="field">
            <label class="label" for="exp-client">Client</label>
            <div class="select">
              <select id="exp-client" value={client} onChange={(e) => setClient(e.target.value)}>
                <option value="">every client</option>
                {clients.map((c) => (
                  <option key={c}>{c}</option>
                ))}
              </select>
            </div>
          </div>
        )}
        {target === 'postgres' && (
          <fieldset aria-label="PostgreSQL database">
            <div class="columns is-multiline">
              {[
                ['host', 'Host', 'text', 'db1.example.com'],
                ['port', 'Port', 'number', '5432'],
                ['database', 'Database', 'text', 'databus'],
                ['user', 'User', 'text', 'databus'],
                ['password', 'Password', 'password', 'none: the passfile of the server'],
                ['schema', 'Schema', 'text', 'databus'],
              ].map(([k, label, type, ph]) => (
                <div class="column is-4 field" key={k}>
                  <label class="label" for={`exp-pg-${k}`}>{label}</label>
                  <input id={`exp-pg-${k}`} class="input" type={type} value={pg[k]} placeholder={ph} autocomplete={k === 'password' ? 'new-password' : 'off'} onInput={setPgField(k)} />
                </div>
              ))}
            </div>
            <p class="help">databus-web connects first: nothing is read before the database answers. The records go in with the import rules, so exporting again adds only what is new. The password is used for this copy only and never kept.</p>
          </fieldset>
        )}
        <div class="buttons">
          {target !== 'lmdb' && (
            <button type="button" class={`button is-primary ${busy === 'sync' ? 'is-loading' : ''}`} disabled={!!busy} onClick={() => run('sync')}>
              {target === 'postgres' ? 'Sync export (copy now)' : 'Sync export (download now)'}
            </button>
          )}
          {target !== 'lmdb' && (
            <button type="button" class={`button is-link ${busy === 'async' ? 'is-loading' : ''}`} disabled={!!busy} onClick={() => run('async')}>
              Async export (background)
            </button>
          )}
          {root && target === 'lmdb' && (
            <button type="button" class={`button is-warning ${busy === 'hot_copy' ? 'is-loading' : ''}`} disabled={!!busy} onClick={() => run('hot_copy')}>
              Hot copy of the store
            </button>
          )}
        </div>
        <p class="help">Sync suits small volumes; async runs in the background without pausing intake and is listed below when done.</p>
      </div>
      <table class="table is-fullwidth is-narrow" aria-label="Exports">
        <thead>
          <tr>
            <th>Created</th>
            <th>Mode</th>
            <th>Client</th>
            <th>State</th>
            <th>Progress</th>
            <th>Size</th>
            <th>By</th>
            <th><span class="is-sr-only">Download</span></th>
          </tr>
        </thead>
        <tbody>
          {list.map((e) => (
            <tr key={e.id} data-export={e.id}>
              <td class="is-size-7">{fmtTime(e.created)}</td>
              <td>{e.target === 'postgres' ? `postgres: ${e.destination} (${e.schema})` : e.mode}</td>
              <td>{e.client || 'all'}</td>
              <td>{stateTag(e.state)}</td>
              <td>
                <progress class="progress is-small is-link" value={Math.round((e.progress || 0) * 100)} max="100" aria-label={`progress of ${e.id}`}>
                  {Math.round((e.progress || 0) * 100)}%
                </progress>
              </td>
              <td>{e.target === 'postgres' ? `${e.size} passengers` : fmtBytes(e.size)}</td>
              <td class="is-size-7">{e.owner}</td>
              <td>
                {e.state === 'done' && e.target !== 'postgres' && (
                  <a class="button is-small" href={`/api/v1/exports/${enc(e.id)}/download`} download>
                    Download
                  </a>
                )}
                {e.state === 'failed' && <span class="has-text-danger is-size-7">{e.error}</span>}
              </td>
            </tr>
          ))}
          {list.length === 0 && (
            <tr><td colSpan={8}>No exports yet.</td></tr>
          )}
        </tbody>
      </table>
      {root && <ImportBox clients={clients} />}
    </Page>
  );
}
