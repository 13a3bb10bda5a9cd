// dryrun.jsx — dry runs of a definition (POST …/dry-run): a queued
// passenger or sample files go through the processors in a throwaway
// worker, and nothing is seated, committed or delivered. DryRunPanel asks
// (samples on the Passengers page, the passenger itself on its page);
// DryRunResult shows each step, the attachments after the processors, the
// metadata and the log lines. Everything shown is text in the DOM, never
// markup from an attachment.
import { useState } from 'preact/hooks';
import { post, enc } from './api.js';
import { ErrorBox, fmtBytes, fmtEntry, stateTag } from './ui.jsx';

// A File as base64, for the JSON body.
async function base64Of(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export function DryRunResult({ result: r }) {
  const kind = r.ok ? (r.outcome.startsWith('skipped') ? 'info' : 'success') : 'danger';
  return (
    <div class="dry-run-result" data-ok={r.ok ? 'true' : 'false'}>
      <p class={`notification is-${kind} is-light py-2`} role="status" id="dry-run-outcome">
        Dry run: <strong>{r.outcome}</strong> <span class="is-size-7">({Math.round(r.elapsed_ms)} ms; nothing was changed)</span>
      </p>
      <table class="table is-narrow is-fullwidth" aria-label="Dry run steps">
        <thead>
          <tr><th>Step</th><th>Kind</th><th>Outcome</th><th>Detail</th></tr>
        </thead>
        <tbody>
          {r.steps.map((s) => (
            <tr key={s.kind + s.name} data-dry-step={s.name}>
              <td>{s.name}</td>
              <td>{s.kind}</td>
              <td>{stateTag(s.state)}</td>
              <td class="is-size-7">{s.error || s.note}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {(r.pushes || []).map((p) => (
        <p key={p.pusher} class="is-size-7" data-dry-push={p.pusher}>
          <strong>{p.pusher}</strong> would: {p.description}
        </p>
      ))}
      <h3 class="subtitle is-6 mb-1">Attachments after the processors</h3>
      {r.attachments.length === 0 && <p>None.</p>}
      {r.attachments.map((a) => (
        <div key={a.name} class="mb-2" data-dry-attachment={a.name}>
          <p class="is-size-7">
            <strong>{a.name}</strong> ({a.content_type || 'unknown type'}, {fmtBytes(a.size)})
          </p>
          {typeof a.text === 'string' ? <pre class="dbs-pre is-size-7">{a.text}</pre> : <p class="is-size-7 has-text-grey">not shown (binary or large)</p>}
        </div>
      ))}
      {Object.keys(r.metadata || {}).length > 0 && (
        <>
          <h3 class="subtitle is-6 mb-1">Metadata</h3>
          <table class="table is-narrow is-size-7" aria-label="Dry run metadata">
            <tbody>
              {Object.entries(r.metadata).map(([k, v]) => (
                <tr key={k}><th>{k}</th><td>{v}</td></tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <h3 class="subtitle is-6 mb-1">Log</h3>
      <pre class="dbs-pre is-size-7" id="dry-run-log">{r.logs.length ? r.logs.map(fmtEntry).join('\n') : 'no entries'}</pre>
    </div>
  );
}

// With `passenger`: runs that queued passenger. Without: sample files.
export function DryRunPanel({ client, name, passenger, onClose }) {
  const [files, setFiles] = useState([]);
  const [result, setResult] = useState(null);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = async (e) => {
    e.preventDefault();
    setErr(null);
    setResult(null);
    setBusy(true);
    try {
      let body;
      if (passenger !== undefined) body = { passenger: Number(passenger) };
      else
        body = {
          samples: await Promise.all(
            files.map(async (f) => ({ name: f.name, content_type: f.type || '', base64: await base64Of(f) })),
          ),
        };
      setResult(await post(`/api/v1/passengers/${enc(client)}/${enc(name)}/dry-run`, body));
    } catch (e2) {
      setErr(e2);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="box" aria-label={`Dry run of ${client}/${name}`} id="dry-run-panel">
      <h2 class="subtitle is-6">
        Dry run of {client}/{name}
        {passenger !== undefined && <> with passenger #{passenger}</>}
      </h2>
      <form onSubmit={run} class="field is-grouped is-align-items-center">
        {passenger === undefined && (
          <div class="control">
            <label class="label is-small" for="dry-run-files">
              Sample files (the attachments of a new passenger)
            </label>
            <input id="dry-run-files" class="input is-small" type="file" multiple onChange={(e) => setFiles([...e.target.files])} />
          </div>
        )}
        <div class="control">
          <button type="submit" class={`button is-link is-small ${busy ? 'is-loading' : ''}`} disabled={busy || (passenger === undefined && files.length === 0)}>
            Run
          </button>
        </div>
        {onClose && (
          <div class="control">
            <button type="button" class="button is-small" onClick={onClose}>
              Close
            </button>
          </div>
        )}
      </form>
      <ErrorBox error={err} onClose={() => setErr(null)} />
      {result && <DryRunResult result={result} />}
    </div>
  );
}
