// export.jsx — sync export (the archive downloads at once), async export
// (runs in the background without pausing intake; progress is live) and,
// for root, a hot copy of the whole store and the import of an archive
// (import.jsx).
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
  const body = (mode) => (mode === 'hot_copy' ? { mode } : client ? { client, mode } : { mode });
  const run = async (mode) => {
    setErr(null);
    setNote('');
    setBusy(mode);
    try {
      if (mode === 'sync') {
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
        <div class="buttons">
          <button type="button" class={`button is-primary ${busy === 'sync' ? 'is-loading' : ''}`} disabled={!!busy} onClick={() => run('sync')}>
            Sync export (download now)
          </button>
          <button type="button" class={`button is-link ${busy === 'async' ? 'is-loading' : ''}`} disabled={!!busy} onClick={() => run('async')}>
            Async export (background)
          </button>
          {root && (
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
              <td>{e.mode}</td>
              <td>{e.client || 'all'}</td>
              <td>{stateTag(e.state)}</td>
              <td>
                <progress class="progress is-small is-link" value={Math.round((e.progress || 0) * 100)} max="100" aria-label={`progress of ${e.id}`}>
                  {Math.round((e.progress || 0) * 100)}%
                </progress>
              </td>
              <td>{fmtBytes(e.size)}</td>
              <td class="is-size-7">{e.owner}</td>
              <td>
                {e.state === 'done' && (
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
