// users.jsx — list, add, remove, change role or password, Revoke token
// (ends every session of the user). Administrators manage their client;
// root every one. A role changes by the rules of `databusctl user role`:
// operator or administrator, client root's users are always root, and
// nobody changes their own (the server says so too).
import { useEffect, useState } from 'preact/hooks';
import { get, post, del, enc } from '../api.js';
import { users, fetchOnce, generation, live, isRoot, me } from '../store.js';
import { Page, ErrorBox, Notice, fmtTime } from '../ui.jsx';

export function Users() {
  const root = isRoot();
  const [err, setErr] = useState(null);
  const [note, setNote] = useState('');
  const [form, setForm] = useState({ client: root ? '' : me.value.client, username: '', password: '', role: 'operator' });
  const [pw, setPw] = useState({}); // key -> new password being typed
  const load = async () => users.upsert((await get('/api/v1/users')).items);
  useEffect(() => {
    fetchOnce('/api/v1/users', load).catch(setErr);
  }, [generation.value]);
  const refresh = () => {
    if (live.value !== 'open') load().catch(setErr);
  };
  const run = async (fn, msg) => {
    setErr(null);
    setNote('');
    try {
      await fn();
      setNote(msg);
      refresh();
    } catch (e) {
      setErr(e);
    }
  };
  const add = (e) => {
    e.preventDefault();
    const body = { ...form, client: root ? form.client : me.value.client };
    run(async () => {
      const r = await post('/api/v1/users', body);
      if (r && r.username) users.upsert([r]);
      setForm({ ...form, username: '', password: '' });
    }, `User ${body.client}/${body.username} added.`);
  };
  const remove = (u) => {
    if (!window.confirm(`Remove user ${u.client}/${u.username}? Their sessions end.`)) return;
    run(async () => {
      await del(`/api/v1/users/${enc(u.client)}/${enc(u.username)}`, {});
      if (live.value !== 'open') users.remove([u]);
    }, `User ${u.client}/${u.username} removed.`);
  };
  const revoke = (u) =>
    run(() => post(`/api/v1/users/${enc(u.client)}/${enc(u.username)}/revoke`, {}), `Every session of ${u.client}/${u.username} has ended.`);
  const isMe = (u) => u.client === me.value.client && u.username === me.value.username;
  const setPassword = (u, k) => {
    const body = { password: pw[k] || '' };
    // Your own password needs the current one (a stolen session cannot
    // take the account over); the change ends your session too.
    if (isMe(u)) body.current_password = pw[`${k}#current`] || '';
    run(async () => {
      await post(`/api/v1/users/${enc(u.client)}/${enc(u.username)}/password`, body);
      setPw({ ...pw, [k]: '', [`${k}#current`]: '' });
    }, `Password of ${u.client}/${u.username} changed; their sessions end.`);
  };
  const setRole = (u, sel) => {
    const role = sel.value;
    if (role === u.role) return;
    if (!window.confirm(`Make ${u.client}/${u.username} ${role === 'administrator' ? 'an administrator' : 'an operator'}? Their sessions end.`)) {
      sel.value = u.role; // as it was
      return;
    }
    sel.value = u.role; // until the server says it changed
    run(async () => {
      const r = await post(`/api/v1/users/${enc(u.client)}/${enc(u.username)}/role`, { role });
      if (r && r.role) users.upsert([{ ...u, role: r.role }]);
    }, `${u.client}/${u.username} is now ${role === 'administrator' ? 'an administrator' : 'an operator'}; their sessions have ended.`);
  };
  const list = [...users.items.value.entries()].sort(([a], [b]) => a.localeCompare(b));
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  return (
    <Page title="Users">
      <ErrorBox error={err} onClose={() => setErr(null)} />
      <Notice>{note}</Notice>
      <div class="table-container">
        <table class="table is-fullwidth is-narrow" aria-label="Users">
          <thead>
            <tr>
              <th>Client</th>
              <th>Username</th>
              <th>Role</th>
              <th>Created</th>
              <th>New password</th>
              <th><span class="is-sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {list.map(([k, u]) => (
              <tr key={k} data-user={k}>
                <td>{u.client}</td>
                <td>{u.username}</td>
                <td>
                  {u.client === 'root' || isMe(u) ? (
                    u.role
                  ) : (
                    <div class="select is-small">
                      <select aria-label={`Role of ${k}`} value={u.role} onChange={(e) => setRole(u, e.target)}>
                        <option>operator</option>
                        <option>administrator</option>
                      </select>
                    </div>
                  )}
                </td>
                <td class="is-size-7">{fmtTime(u.created)}</td>
                <td>
                  <form class="field has-addons" onSubmit={(e) => { e.preventDefault(); setPassword(u, k); }}>
                    {isMe(u) && (
                      <div class="control">
                        <label class="is-sr-only" for={`pwc-${k}`}>Current password for {k}</label>
                        <input id={`pwc-${k}`} class="input is-small" type="password" placeholder="current" autocomplete="current-password" value={pw[`${k}#current`] || ''} onInput={(e) => setPw({ ...pw, [`${k}#current`]: e.target.value })} />
                      </div>
                    )}
                    <div class="control">
                      <label class="is-sr-only" for={`pw-${k}`}>New password for {k}</label>
                      <input id={`pw-${k}`} class="input is-small" type="password" placeholder="new (8+ characters)" minLength={8} autocomplete="new-password" value={pw[k] || ''} onInput={(e) => setPw({ ...pw, [k]: e.target.value })} />
                    </div>
                    <div class="control">
                      <button type="submit" class="button is-small" disabled={!pw[k]}>Change</button>
                    </div>
                  </form>
                </td>
                <td class="buttons">
                  <button type="button" class="button is-small is-warning is-light" onClick={() => revoke(u)} aria-label={`Revoke token of ${k}`}>
                    Revoke token
                  </button>
                  {!isMe(u) && (
                    <button type="button" class="button is-small is-danger is-light" onClick={() => remove(u)} aria-label={`Remove ${k}`}>
                      Remove
                    </button>
                  )}
                </td>
              </tr>
            ))}
            {list.length === 0 && (
              <tr><td colSpan={6}>No users: this client accepts any login as operator.</td></tr>
            )}
          </tbody>
        </table>
      </div>
      <form class="box" onSubmit={add} aria-label="Add a user">
        <h2 class="subtitle is-6">Add a user</h2>
        <div class="columns is-multiline">
          {root && (
            <div class="column">
              <label class="label is-small" for="nu-client">Client</label>
              <input id="nu-client" class="input is-small" required value={form.client} onInput={set('client')} />
            </div>
          )}
          <div class="column">
            <label class="label is-small" for="nu-username">Username</label>
            <input id="nu-username" class="input is-small" required value={form.username} onInput={set('username')} autocomplete="off" />
          </div>
          <div class="column">
            <label class="label is-small" for="nu-password">Password</label>
            <input id="nu-password" class="input is-small" type="password" required minLength={8} value={form.password} onInput={set('password')} autocomplete="new-password" />
          </div>
          <div class="column is-narrow">
            <label class="label is-small" for="nu-role">Role</label>
            <div class="select is-small">
              <select id="nu-role" value={form.role} onChange={set('role')}>
                <option>operator</option>
                <option>administrator</option>
                {root && form.client === 'root' && <option>root</option>}
              </select>
            </div>
          </div>
          <div class="column is-narrow">
            <label class="label is-small">&nbsp;</label>
            <button type="submit" class="button is-small is-primary">Add</button>
          </div>
        </div>
      </form>
    </Page>
  );
}
