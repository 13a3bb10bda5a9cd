// ui.jsx — small shared pieces: links, error boxes, buttons that run an
// API call and report its error, time formatting.
import { useState } from 'preact/hooks';
import { navigate } from './router.js';

export function Link({ href, children, onClick, ...rest }) {
  return (
    <a
      href={href}
      {...rest}
      onClick={(e) => {
        if (onClick) onClick(e);
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
        e.preventDefault();
        navigate(href);
      }}
    >
      {children}
    </a>
  );
}

export function ErrorBox({ error, onClose }) {
  if (!error) return null;
  const msg = error.message || String(error);
  return (
    <div class="notification is-danger is-light" role="alert">
      {onClose && <button class="delete" aria-label="dismiss" onClick={onClose} />}
      <strong>{error.code ? `${error.code}: ` : ''}</strong>
      {msg}
    </div>
  );
}

export function Notice({ children, kind = 'success' }) {
  if (!children) return null;
  return (
    <div class={`notification is-${kind} is-light`} role="status">
      {children}
    </div>
  );
}

// A button running an async action: disabled while it runs; its error
// goes to onError (or is shown next to it).
export function ActionButton({ action, onError, onDone, confirm: ask, class: cls = '', children, ...rest }) {
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState(null);
  const run = async () => {
    if (ask && !window.confirm(ask)) return;
    setBusy(true);
    setErr(null);
    onError && onError(null);
    try {
      const r = await action();
      onDone && onDone(r);
    } catch (e) {
      if (onError) onError(e);
      else setErr(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" class={`button ${cls} ${busy ? 'is-loading' : ''}`} disabled={busy} onClick={run} {...rest}>
        {children}
      </button>
      {!onError && err && (
        <span class="help is-danger" role="alert">
          {err.message}
        </span>
      )}
    </>
  );
}

export function fmtTime(t) {
  if (!t) return '—';
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  return d.toLocaleString(undefined, { hour12: false });
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i ? v.toFixed(1) : v} ${u[i]}`;
}

export function fmtDuration(ms) {
  if (ms === undefined || ms === null) return '—';
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  s %= 86400;
  const h = Math.floor(s / 3600);
  s %= 3600;
  const m = Math.floor(s / 60);
  s %= 60;
  return (d ? `${d}d ` : '') + `${h}h ${m}m ${s}s`;
}

export function stateTag(state) {
  const cls =
    {
      done: 'is-success',
      complete: 'is-success',
      ready: 'is-success',
      pending: 'is-warning',
      incomplete: 'is-warning',
      busy: 'is-info',
      running: 'is-info',
      starting: 'is-info',
      dead: 'is-danger',
      failed: 'is-danger',
      backoff: 'is-danger is-light',
    }[state] || 'is-light';
  return <span class={`tag ${cls}`}>{state}</span>;
}

// Newer / older pages of a listing walked by cursor: `cursors` holds the
// cursor of every page seen (the first is 0), `nextCursor` the one after
// the current page (none: this is the last).
export function Pager({ cursors, setCursors, nextCursor }) {
  return (
    <nav class="buttons" aria-label="pages">
      <button type="button" class="button is-small" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
        ← Newer
      </button>
      <span class="mx-2 is-size-7">page {cursors.length}</span>
      <button type="button" class="button is-small" disabled={!nextCursor} onClick={() => setCursors([...cursors, nextCursor])}>
        Older →
      </button>
    </nav>
  );
}

export function Page({ title, actions, children }) {
  return (
    <section class="section py-4">
      <div class="level is-mobile mb-3">
        <div class="level-left">
          <h1 class="title is-4" tabIndex={-1} id="page-title">
            {title}
          </h1>
        </div>
        {actions && <div class="level-right buttons">{actions}</div>}
      </div>
      {children}
    </section>
  );
}

// One log entry as a line of text: the entries are JSON objects
// {time, level, message, passenger_id, step} (or plain strings).
export function fmtEntry(e) {
  if (typeof e === 'string') return e;
  if (!e || typeof e !== 'object') return String(e);
  const parts = [e.time ? fmtTime(e.time) : '', (e.level || '').toUpperCase(), e.message || ''];
  if (e.step) parts.push(`[step ${e.step}]`);
  if (e.passenger_id) parts.push(`[passenger #${e.passenger_id}]`);
  return parts.filter(Boolean).join('  ');
}
