// login.jsx — client, username and password. A client without users lets
// anyone in as operator: the server's warning is kept as a banner.
import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { me, setWarning } from '../store.js';
import { ErrorBox } from '../ui.jsx';

export function Login() {
  const [client, setClient] = useState(localStorage.getItem('dbs_client') || '');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      const r = await post('/api/v1/login', { client, username, password }, { login: true });
      localStorage.setItem('dbs_client', client);
      setWarning(r.warning || '');
      me.value = { client: r.client, username: r.username, role: r.role };
    } catch (e2) {
      setErr(e2);
      setBusy(false);
    }
  };
  return (
    <section class="section">
      <div class="columns is-centered">
        <div class="column is-5-tablet is-4-desktop">
          <h1 class="title has-text-centered">🚌 Databus</h1>
          <form class="box" onSubmit={submit} aria-label="Log in">
            <ErrorBox error={err} />
            <div class="field">
              <label class="label" for="login-client">Client</label>
              <div class="control">
                <input id="login-client" class="input" name="client" autocomplete="organization" required value={client} onInput={(e) => setClient(e.target.value)} />
              </div>
              <p class="help">A client name, or “root” for the whole system.</p>
            </div>
            <div class="field">
              <label class="label" for="login-username">Username</label>
              <div class="control">
                <input id="login-username" class="input" name="username" autocomplete="username" required value={username} onInput={(e) => setUsername(e.target.value)} />
              </div>
            </div>
            <div class="field">
              <label class="label" for="login-password">Password</label>
              <div class="control">
                <input id="login-password" class="input" type="password" name="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.target.value)} />
              </div>
            </div>
            <button type="submit" class={`button is-primary is-fullwidth ${busy ? 'is-loading' : ''}`} disabled={busy}>
              Log in
            </button>
          </form>
        </div>
      </div>
    </section>
  );
}
