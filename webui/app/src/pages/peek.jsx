// peek.jsx — what waits in a puller's source, through the worker's peek:
// never a real pull, nothing is taken from the source.
import { useEffect, useState } from 'preact/hooks';
import { get, enc } from '../api.js';
import { defs, fetchDefs, generation } from '../store.js';
import { Page, ErrorBox, fmtBytes, fmtTime } from '../ui.jsx';

function PeekItem({ item }) {
  const [open, setOpen] = useState(false);
  const atts = item.attachments || [];
  return (
    <div class="box py-2" data-peek={item.external_id || item.id}>
      <p>
        <strong>{item.external_id || item.id || 'item'}</strong> {item.puller && <span class="tag is-light">{item.puller}</span>} {item.pulled && <span class="is-size-7 has-text-grey">seen {fmtTime(item.pulled)}</span>}
      </p>
      {item.metadata && (
        <table class="table is-narrow is-size-7">
          <tbody>
            {Object.entries(item.metadata).map(([k, v]) => (
              <tr key={k}><th>{k}</th><td>{typeof v === 'string' ? v : JSON.stringify(v)}</td></tr>
            ))}
          </tbody>
        </table>
      )}
      {atts.length > 0 && (
        <>
          <button type="button" class="button is-small is-text" onClick={() => setOpen(!open)} aria-expanded={open ? 'true' : 'false'}>
            {open ? 'Hide' : 'Show'} {atts.length} attachment(s)
          </button>
          {open &&
            atts.map((a) => (
              <div key={a.name} class="mt-2">
                <p class="is-size-7">
                  <strong>{a.name}</strong> ({a.content_type || 'unknown type'}, {fmtBytes(a.size)})
                </p>
                {typeof a.preview === 'string' && a.preview_encoding === 'utf-8' && <pre class="dbs-pre is-size-7">{a.preview}</pre>}
                {typeof a.preview === 'string' && a.preview_encoding === 'base64' && <p class="is-size-7 has-text-grey">binary content (not shown)</p>}
              </div>
            ))}
        </>
      )}
    </div>
  );
}

export function Peek() {
  const [sel, setSel] = useState('');
  const [result, setResult] = useState(null);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    fetchDefs().catch(setErr);
  }, [generation.value]);
  const list = [...defs.items.value.values()];
  const peek = async (e) => {
    e.preventDefault();
    if (!sel) return;
    const [client, name] = sel.split('/');
    setErr(null);
    setBusy(true);
    try {
      setResult(await get(`/api/v1/peek/${enc(client)}/${enc(name)}`));
    } catch (e2) {
      setErr(e2);
      setResult(null);
    } finally {
      setBusy(false);
    }
  };
  const items = result ? result.items || result.passengers || [] : [];
  return (
    <Page title="Peek">
      <p class="mb-3">Look into a definition's sources without pulling anything.</p>
      <form class="field has-addons" onSubmit={peek} aria-label="Peek">
        <div class="control">
          <label class="is-sr-only" for="peek-def">Definition</label>
          <div class="select">
            <select id="peek-def" value={sel} onChange={(e) => setSel(e.target.value)}>
              <option value="">choose a definition…</option>
              {list.map((d) => (
                <option key={`${d.client}/${d.name}`} value={`${d.client}/${d.name}`}>
                  {d.client}/{d.name}
                </option>
              ))}
            </select>
          </div>
        </div>
        <div class="control">
          <button type="submit" class={`button is-link ${busy ? 'is-loading' : ''}`} disabled={!sel || busy}>
            Peek
          </button>
        </div>
      </form>
      <ErrorBox error={err} />
      {result && (
        <>
          <p class="mb-2" id="peek-count">{items.length} item(s) waiting.</p>
          {result.message && (
            <p class="notification is-info is-light mb-2" id="peek-why">
              {result.message}
            </p>
          )}
          {items.map((it, i) => (
            <PeekItem key={i} item={it} />
          ))}
        </>
      )}
    </Page>
  );
}
