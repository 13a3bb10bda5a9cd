// email.jsx — an e-mail attachment (.eml, message/rfc822) shown as what it
// is: its headers, its text body and its parts, parsed in the browser by
// postal-mime. Nothing of it is rendered as a page: an HTML-only body is
// shown as its text (DOMParser runs no script), and each part is offered
// as a download of its own (a blob: URL made here, never served by
// Databus). The raw message stays one Download away.
import { useEffect, useState } from 'preact/hooks';
import PostalMime from 'postal-mime';
import { get } from './api.js';
import { ErrorBox, fmtBytes } from './ui.jsx';

export const isEmail = (name, type) => type === 'message/rfc822' || /\.eml$/i.test(name);

const addr = (a) => (!a ? '' : Array.isArray(a) ? a.map(addr).join(', ') : a.address ? (a.name ? `${a.name} <${a.address}>` : a.address) : a.name || '');

function textOfHtml(html) {
  return new DOMParser().parseFromString(html, 'text/html').body.textContent || '';
}

function Part({ part }) {
  const [href, setHref] = useState(null);
  useEffect(() => {
    const u = URL.createObjectURL(new Blob([part.content], { type: 'application/octet-stream' }));
    setHref(u);
    return () => URL.revokeObjectURL(u);
  }, [part]);
  const size = part.content ? part.content.byteLength ?? part.content.length : 0;
  const name = part.filename || 'unnamed part';
  return (
    <li data-part={name}>
      {name} <span class="is-size-7">({part.mimeType || 'unknown type'}, {fmtBytes(size)}{part.disposition === 'inline' ? ', inline' : ''})</span>{' '}
      {href && (
        <a class="button is-small is-text" href={href} download={name}>
          Download part
        </a>
      )}
    </li>
  );
}

export function EmailView({ url }) {
  const [mail, setMail] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    let gone = false;
    (async () => {
      try {
        const r = await get(url, { raw: true });
        const parsed = await PostalMime.parse(await r.arrayBuffer());
        if (!gone) setMail(parsed);
      } catch (e) {
        if (!gone) setErr(e);
      }
    })();
    return () => {
      gone = true;
    };
  }, [url]);
  if (err) return <ErrorBox error={err} />;
  if (!mail) return <p class="is-size-7">Reading the message…</p>;
  const rows = [
    ['From', addr(mail.from)],
    ['To', addr(mail.to)],
    ['Cc', addr(mail.cc)],
    ['Date', mail.date || ''],
    ['Subject', mail.subject || ''],
  ].filter(([, v]) => v);
  const body = mail.text || (mail.html ? textOfHtml(mail.html) : '');
  const parts = mail.attachments || [];
  return (
    <div class="box mt-2 email-view" aria-label="E-mail">
      <table class="table is-narrow is-size-7 email-headers">
        <tbody>
          {rows.map(([k, v]) => (
            <tr key={k}>
              <th>{k}</th>
              <td class="dbs-wrap">{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!mail.text && mail.html && <p class="help">The message has only an HTML body; shown here as its text.</p>}
      <pre class="dbs-pre email-body">{body || '(no text body)'}</pre>
      <p class="mt-2 has-text-weight-semibold is-size-7">{parts.length} part(s) besides the body</p>
      {parts.length > 0 && <ul class="email-parts">{parts.map((p, i) => <Part key={i} part={p} />)}</ul>}
      <details class="mt-2 is-size-7">
        <summary>All headers ({(mail.headers || []).length})</summary>
        <pre class="dbs-pre">{(mail.headers || []).map((h) => `${h.originalKey || h.key}: ${h.value}`).join('\n')}</pre>
      </details>
    </div>
  );
}
