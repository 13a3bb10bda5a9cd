// config.jsx — Customizing: the nodes the session may edit, a JSON editor
// (editor.jsx: CodeMirror) that validates and saves through databusd (its
// error is shown and marked in the text where it points; nothing changes),
// and the backups of each node with a diff and Restore. Diffs are hunks:
// only the changed lines with three lines around them, under the line
// numbers they start at.
import { useEffect, useState } from 'preact/hooks';
import { structuredPatch } from 'diff';
import { get, put, post, enc } from '../api.js';
import { Page, ErrorBox, Notice, fmtTime, fmtBytes } from '../ui.jsx';
import { CodeEditor } from '../editor.jsx';

function Diff({ from, to, fromName = 'before', toName = 'after' }) {
  const { hunks } = structuredPatch(fromName, toName, from, to, '', '', { context: 3 });
  return (
    <div class="dbs-diff box is-size-7" aria-label="Differences">
      {hunks.length === 0 && <div>No differences.</div>}
      {hunks.map((h, i) => (
        <div key={i} class="dbs-hunk">
          <div class="dbs-hunk-head">
            @@ −{h.oldStart},{h.oldLines} +{h.newStart},{h.newLines} @@
          </div>
          {h.lines
            .filter((l) => !l.startsWith('\\'))
            .map((l, j) => (
              <div key={j} class={l[0] === '+' ? 'dbs-diff-add' : l[0] === '-' ? 'dbs-diff-del' : ''}>
                {l[0] === ' ' ? '  ' + l.slice(1) : l[0] + ' ' + l.slice(1)}
              </div>
            ))}
        </div>
      ))}
    </div>
  );
}

function Backups({ node, current, onRestored }) {
  const [items, setItems] = useState([]);
  const [shown, setShown] = useState(null);
  const [err, setErr] = useState(null);
  const base = `/api/v1/config/${enc(node)}/backups`;
  useEffect(() => {
    setShown(null);
    get(base)
      .then((r) => setItems(r.items || []))
      .catch(setErr);
  }, [node, current]);
  const show = async (b) => {
    setErr(null);
    try {
      setShown(await get(`${base}/${enc(b.id)}`));
    } catch (e) {
      setErr(e);
    }
  };
  const restore = async (b) => {
    if (!window.confirm(`Restore the backup of ${fmtTime(b.time)}? It is validated like a save.`)) return;
    setErr(null);
    try {
      const r = await post(`${base}/${enc(b.id)}/restore`, {});
      onRestored(r);
    } catch (e) {
      setErr(e);
    }
  };
  return (
    <div>
      <h2 class="subtitle is-6">Backups</h2>
      <ErrorBox error={err} onClose={() => setErr(null)} />
      {items.length === 0 && <p>No backups yet: every save keeps the version it replaces.</p>}
      <table class="table is-narrow is-fullwidth" aria-label="Backups">
        <tbody>
          {items.map((b) => (
            <tr key={b.id} data-backup={b.id}>
              <td class="is-size-7">{fmtTime(b.time)}</td>
              <td class="is-size-7">{b.author}</td>
              <td class="is-size-7">{fmtBytes(b.size)}</td>
              <td class="buttons">
                <button type="button" class="button is-small" onClick={() => show(b)}>
                  Diff
                </button>
                <button type="button" class="button is-small is-warning is-light" onClick={() => restore(b)}>
                  Restore
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown && (
        <>
          <p class="is-size-7 mb-1">
            Backup of {fmtTime(shown.time)} (−) against the current version (+):
          </p>
          <Diff from={shown.content || ''} to={current || ''} fromName="backup" toName="current" />
        </>
      )}
    </div>
  );
}

export function Customizing() {
  const [nodes, setNodes] = useState([]);
  const [node, setNode] = useState('');
  const [doc, setDoc] = useState(null); // {content, version}
  const [text, setText] = useState('');
  const [err, setErr] = useState(null);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  // databusd's refusal of the last save or validation, marked in the text.
  const problem = err && err.code === 'invalid_config' ? err.message : null;
  useEffect(() => {
    get('/api/v1/config')
      .then((r) => setNodes(r.items || []))
      .catch(setErr);
  }, []);
  const open = async (n) => {
    setErr(null);
    setNote('');
    setNode(n);
    setDoc(null);
    try {
      const d = await get(`/api/v1/config/${enc(n)}`);
      setDoc(d);
      setText(d.content);
    } catch (e) {
      setErr(e);
    }
  };
  const save = async (e) => {
    e.preventDefault();
    setErr(null);
    setNote('');
    setBusy(true);
    try {
      const r = await put(`/api/v1/config/${enc(node)}`, { content: text, version: doc.version });
      setDoc({ ...doc, content: text, version: r.version });
      setNote(r.message || 'Saved; databusd reloaded.');
    } catch (e2) {
      setErr(e2);
    } finally {
      setBusy(false);
    }
  };
  const validate = async () => {
    setErr(null);
    setNote('');
    setBusy(true);
    try {
      const r = await post(`/api/v1/config/${enc(node)}/validate`, { content: text });
      setNote(r.message || 'Valid.');
    } catch (e2) {
      setErr(e2);
    } finally {
      setBusy(false);
    }
  };
  const restored = async (r) => {
    setNote(r.message || 'Restored.');
    await open(node);
    setNote(r.message || 'Restored.');
  };
  return (
    <Page title="Customizing">
      <div class="columns">
        <div class="column is-3">
          <nav class="menu" aria-label="Configuration nodes">
            <p class="menu-label">Nodes</p>
            <ul class="menu-list">
              {nodes.map((n) => (
                <li key={n.node}>
                  <button type="button" class={`button is-fullwidth is-justify-content-flex-start is-small mb-1 ${n.node === node ? 'is-link' : 'is-white'}`} onClick={() => open(n.node)} aria-current={n.node === node ? 'true' : undefined} data-node={n.node}>
                    {n.node} <span class="tag is-light ml-2">{n.kind}</span>
                  </button>
                </li>
              ))}
            </ul>
            <p class="help">Nodes starting with __ are Databus's own files (root only); the others are client files and external files.</p>
          </nav>
        </div>
        <div class="column">
          <ErrorBox error={err} onClose={() => setErr(null)} />
          <Notice>{note}</Notice>
          {doc && (
            <>
              <form onSubmit={save} aria-label={`Edit ${node}`}>
                <div class="field">
                  <p class="label">
                    {node} {doc.file && <span class="is-size-7 has-text-grey">({doc.file})</span>}
                  </p>
                  <CodeEditor key={node} value={text} onChange={setText} label={`${node} configuration`} problem={problem} file={doc.file} />
                </div>
                <div class="buttons">
                  <button type="button" class="button" disabled={busy} onClick={validate}>
                    Validate
                  </button>
                  <button type="submit" class={`button is-primary ${busy ? 'is-loading' : ''}`} disabled={busy || text === doc.content}>
                    Save
                  </button>
                  <button type="button" class="button" disabled={text === doc.content} onClick={() => setText(doc.content)}>
                    Discard changes
                  </button>
                </div>
              </form>
              {text !== doc.content && <Diff from={doc.content} to={text} fromName="saved" toName="edited" />}
              <Backups node={node} current={doc.content} onRestored={restored} />
            </>
          )}
          {!doc && !err && <p>Choose a node to edit.</p>}
        </div>
      </div>
    </Page>
  );
}
