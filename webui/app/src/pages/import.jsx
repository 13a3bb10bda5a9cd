// import.jsx — root's import of an archive, in the Export section: the
// file goes up in pieces of 1 MiB (the server's body limit), a preview
// (the dry run) says what would be added, remapped and skipped, and only
// the operator's confirmation imports it (through databusd, so importing
// twice adds nothing). An LMDB store file is refused here: databusctl
// imports it.
import { useState } from 'preact/hooks';
import { get, post, del, postBytes, enc } from '../api.js';
import { ErrorBox, Notice, fmtBytes } from '../ui.jsx';

const PIECE = 1 << 20;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll the upload until it leaves `state`.
async function settle(id, state) {
  for (;;) {
    const u = await get(`/api/v1/imports/${enc(id)}`);
    if (u.state !== state) return u;
    await sleep(250);
  }
}

function Report({ r, dry }) {
  const rows = [
    ['Passengers in the archive', r.passengers],
    [dry ? 'Would be added' : 'Added', r.added],
    ['Skipped (already in the store)', r.duplicates],
    [dry ? 'Would get a new id' : 'Got a new id', r.remapped_count],
    [dry ? 'Users that would be added' : 'Users added', r.users_added],
    ['Users kept as they are', r.users_existing],
    [dry ? 'Logs that would be added' : 'Logs added', r.logs_added],
    ['Logs skipped (already in the store)', r.logs_duplicates],
    ['Attachments missing from the archive', r.missing_attachments],
  ];
  return (
    <div data-import-report={dry ? 'preview' : 'done'}>
      <table class="table is-narrow" aria-label={dry ? 'Import preview' : 'Import result'}>
        <tbody>
          {rows.map(([k, v]) => (
            <tr key={k}>
              <th>{k}</th>
              <td data-count={k}>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {r.users_locked.length > 0 && (
        <p class="help">
          Without a password in the archive (locked until one is set with <code>databusctl user passwd</code>): {r.users_locked.join(', ')}
        </p>
      )}
      {r.remapped.length > 0 && (
        <details>
          <summary>Ids remapped{r.remapped_count > r.remapped.length ? ` (first ${r.remapped.length})` : ''}</summary>
          <p class="is-size-7">{r.remapped.map((m) => `${m.from} → ${m.to}`).join(', ')}</p>
        </details>
      )}
    </div>
  );
}

export function ImportBox({ clients }) {
  const [file, setFile] = useState(null);
  const [client, setClient] = useState('');
  const [up, setUp] = useState(null); // the upload, as the server has it
  const [sent, setSent] = useState(0);
  const [busy, setBusy] = useState('');
  const [err, setErr] = useState(null);
  const [note, setNote] = useState('');

  const guard = async (what, fn) => {
    setErr(null);
    setNote('');
    setBusy(what);
    try {
      await fn();
    } catch (e) {
      setErr(e);
    } finally {
      setBusy('');
    }
  };
  const preview = () =>
    guard('preview', async () => {
      if (up && up.state !== 'done') await del(`/api/v1/imports/${enc(up.id)}`).catch(() => {});
      setUp(null);
      let u = await post('/api/v1/imports', { size: file.size });
      for (let off = 0; off < file.size; off += PIECE) {
        u = await postBytes(`/api/v1/imports/${enc(u.id)}/data?offset=${off}`, file.slice(off, off + PIECE));
        setSent(u.received);
      }
      await post(`/api/v1/imports/${enc(u.id)}/preview`, client ? { client } : {});
      setUp(await settle(u.id, 'checking'));
    });
  const apply = () =>
    guard('apply', async () => {
      await post(`/api/v1/imports/${enc(up.id)}/apply`, {});
      const u = await settle(up.id, 'importing');
      setUp(u);
      if (u.state === 'done') setNote(`Imported: ${u.report.added} passengers added, ${u.report.duplicates} skipped.`);
    });
  const cancel = () =>
    guard('cancel', async () => {
      await del(`/api/v1/imports/${enc(up.id)}`);
      setUp(null);
      setNote('Import cancelled; nothing was written.');
    });

  return (
    <div class="box" data-section="import">
      <h2 class="title is-5">Import an archive</h2>
      <ErrorBox error={err} onClose={() => setErr(null)} />
      <Notice>{note}</Notice>
      <div class="field is-grouped is-grouped-multiline">
        <div class="control">
          <div class="file has-name">
            <label class="file-label">
              <input class="file-input" type="file" id="imp-file" accept=".json,application/json" onChange={(e) => { setFile(e.target.files[0] || null); setUp(null); setSent(0); }} />
              <span class="file-cta"><span class="file-label">Choose an archive…</span></span>
              <span class="file-name">{file ? `${file.name} (${fmtBytes(file.size)})` : 'none'}</span>
            </label>
          </div>
        </div>
        <div class="control">
          <div class="select">
            <select id="imp-client" aria-label="Import the records of" value={client} onChange={(e) => setClient(e.target.value)}>
              <option value="">every client in the archive</option>
              {clients.map((c) => (
                <option key={c}>{c}</option>
              ))}
            </select>
          </div>
        </div>
        <div class="control">
          <button type="button" class={`button is-info ${busy === 'preview' ? 'is-loading' : ''}`} disabled={!file || !!busy} onClick={preview}>
            Upload and preview
          </button>
        </div>
      </div>
      {busy === 'preview' && file && (
        <progress class="progress is-small is-info" value={sent} max={file.size} aria-label="upload">
          {Math.round((100 * sent) / Math.max(1, file.size))}%
        </progress>
      )}
      {up && up.state === 'failed' && (
        <p class="notification is-danger is-light" data-import-error>
          {up.error}
        </p>
      )}
      {up && up.report && <Report r={up.report} dry={up.state !== 'done'} />}
      {up && up.state === 'ready' && (
        <div class="buttons">
          <button type="button" class={`button is-danger ${busy === 'apply' ? 'is-loading' : ''}`} disabled={!!busy} onClick={apply}>
            Import now
          </button>
          <button type="button" class="button" disabled={!!busy} onClick={cancel}>
            Cancel
          </button>
        </div>
      )}
      <p class="help">
        A JSON archive of an export. Nothing is written until you confirm the preview; passengers already in the store are skipped, so importing twice adds nothing. An LMDB
        store file (hot copy) is imported with <code>databusctl import FILE</code>.
      </p>
    </div>
  );
}
