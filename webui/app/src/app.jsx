// app.jsx — the frame: top bar (sections, live state, Pause/Resume,
// Shutdown 🔴, Logout 👋), the system banner, and the page of the route.
import { useEffect, useState } from 'preact/hooks';
import { me, about, system, live, lastRetry, retryNow, loginWarning, loadMe, startLive, stopLive, isRoot, isAdmin, setWarning, quotas, pollQuotas } from './store.js';
import { path, navigate, match } from './router.js';
import { post } from './api.js';
import { Link, ErrorBox } from './ui.jsx';
import { Login } from './pages/login.jsx';
import { Passengers } from './pages/passengers.jsx';
import { Peek } from './pages/peek.jsx';
import { Queue, QueueItem } from './pages/queue.jsx';
import { Logs, LogItem } from './pages/logs.jsx';
import { Users } from './pages/users.jsx';
import { Customizing } from './pages/config.jsx';
import { Export } from './pages/export.jsx';
import { About } from './pages/about.jsx';

const sections = [
  ['/passengers', 'Passengers', () => true],
  ['/peek', 'Peek', () => true],
  ['/queue', 'Queue', () => true],
  ['/logs', 'Log', () => true],
  ['/users', 'Users', isAdmin],
  ['/config', 'Customizing', isAdmin],
  ['/export', 'Export', isAdmin],
  ['/about', 'About', () => true],
];

// After a Shutdown: Databus has stopped, nothing reconnects by itself;
// Retry tries once (someone may have started it again).
function Stopped() {
  const t = lastRetry.value;
  return (
    <div class="notification dbs-banner is-danger" role="alert" id="dbs-stopped">
      <p>
        <strong>Databus has stopped.</strong> It was shut down; this page shows what it knew then and
        nothing on it changes until Databus is started again.
      </p>
      {t > 0 && <p class="is-size-7">Tried again at {new Date(t).toLocaleTimeString()}: still not running.</p>}
      <button type="button" class="button is-small mt-2" onClick={retryNow}>
        Retry
      </button>
    </div>
  );
}

const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;

// A client whose intake a quota pauses (docs/configuration.md#quotas).
function quotaText(q) {
  const what =
    q.hit === 'store_quota'
      ? `its store_quota (${mib(q.store_bytes)} of ${mib(q.store_quota)})`
      : `its max_pending (${q.pending} of ${q.max_pending} passengers pending)`;
  return (
    `Intake of client ${q.client} is paused: it is over ${what}. Its webhooks are answered 429 and its ` +
    'pullers are not driven; intake resumes by itself when its passengers are done or purged.'
  );
}

function Banner() {
  useEffect(() => pollQuotas(), []);
  const s = system.value;
  const msgs = [];
  if (live.value === 'stopped') return <Stopped />;
  if (s) {
    if (s.shutting_down) msgs.push(['is-danger', 'Databus is shutting down: drives finish, then it stops.']);
    if (s.paused || s.intake_paused) msgs.push(['is-warning', 'Databus is paused: no drive starts until it is resumed.']);
    if (s.store_error) msgs.push(['is-danger', `Store problem (disk full?): ${s.store_error}`]);
  }
  for (const q of quotas.value) if (q.hit) msgs.push(['is-warning', quotaText(q)]);
  if (loginWarning.value) msgs.push(['is-warning', loginWarning.value]);
  if (live.value === 'closed') msgs.push(['is-info is-light', 'Live updates are disconnected; reconnecting…', true]);
  return msgs.map(([cls, text, retry]) => (
    <div class={`notification dbs-banner ${cls}`} role="status" key={text}>
      {text}
      {retry && (
        <button type="button" class="button is-small is-text ml-2" onClick={retryNow}>
          Retry now
        </button>
      )}
    </div>
  ));
}

function TopBar() {
  const [open, setOpen] = useState(false);
  const [err, setErr] = useState(null);
  const m = me.value;
  const s = system.value;
  // Stopped, or on its way: Pause and Shutdown have nothing to act on.
  const down = live.value === 'stopped' || (s && s.shutting_down);
  const alias = (about.value && about.value.system_alias) || (s && s.system_alias) || 'Databus';
  const act = async (what, ask) => {
    if (ask && !window.confirm(ask)) return;
    setErr(null);
    try {
      await post(`/api/v1/system/${what}`, {});
    } catch (e) {
      setErr(e);
    }
  };
  const logout = async () => {
    try {
      await post('/api/v1/logout', {});
    } catch {
      /* the session may be gone already */
    }
    setWarning('');
    stopLive();
    me.value = null;
    navigate('/login');
  };
  return (
    <>
      <nav class="navbar is-dark" aria-label="main navigation">
        <div class="navbar-brand">
          <Link class="navbar-item has-text-weight-bold dbs-brand" href="/passengers" title={alias}>
            🚌 <span class="dbs-clip">{alias}</span>
          </Link>
          <button
            type="button"
            class={`navbar-burger ${open ? 'is-active' : ''}`}
            aria-label="menu"
            aria-expanded={open ? 'true' : 'false'}
            onClick={() => setOpen(!open)}
          >
            <span aria-hidden="true" />
            <span aria-hidden="true" />
            <span aria-hidden="true" />
            <span aria-hidden="true" />
          </button>
        </div>
        <div class={`navbar-menu ${open ? 'is-active' : ''}`}>
          <div class="navbar-start">
            {sections
              .filter(([, , ok]) => ok())
              .map(([href, label]) => (
                <Link
                  key={href}
                  href={href}
                  class={`navbar-item ${path.value.startsWith(href) ? 'is-active' : ''}`}
                  aria-current={path.value.startsWith(href) ? 'page' : undefined}
                  onClick={() => setOpen(false)}
                >
                  {label}
                </Link>
              ))}
          </div>
          <div class="navbar-end">
            <span class="navbar-item dbs-live" title="live updates">
              <span class={`tag ${live.value === 'open' ? 'is-success' : live.value === 'stopped' ? 'is-danger' : 'is-warning'}`}>
                {live.value === 'open' ? 'live' : live.value}
              </span>
            </span>
            <span class="navbar-item dbs-nav-user" title={`${m.client}/${m.username} (${m.role})`}>
              <span class="dbs-clip">
                {m.client}/{m.username} ({m.role})
              </span>
            </span>
            {isRoot() && s && !down && (
              <div class="navbar-item">
                {s.paused || s.intake_paused ? (
                  <button type="button" class="button is-small is-warning" onClick={() => act('resume')}>
                    ▶ Resume
                  </button>
                ) : (
                  <button type="button" class="button is-small" onClick={() => act('pause')}>
                    ⏸ Pause
                  </button>
                )}
              </div>
            )}
            {isRoot() && !down && (
              <div class="navbar-item">
                <button
                  type="button"
                  class="button is-small is-danger is-light"
                  title="Shutdown"
                  aria-label="Shutdown Databus"
                  onClick={() =>
                    act('shutdown', 'Shut Databus down? Active drives finish first, then every process stops.')
                  }
                >
                  🔴 Shutdown
                </button>
              </div>
            )}
            <div class="navbar-item">
              <button type="button" class="button is-small" title="Logout" aria-label="Logout" onClick={logout}>
                👋 Logout
              </button>
            </div>
          </div>
        </div>
      </nav>
      {err && (
        <div class="container mt-2">
          <ErrorBox error={err} onClose={() => setErr(null)} />
        </div>
      )}
    </>
  );
}

function Routes() {
  const p = path.value;
  let q;
  if (p === '/' || p === '/login') return <Passengers />;
  if (p === '/passengers') return <Passengers />;
  if (p === '/peek') return <Peek />;
  if (p === '/queue') return <Queue />;
  if ((q = match('/queue/:client/:id'))) return <QueueItem client={q.client} id={q.id} key={p} />;
  if (p === '/logs') return <Logs />;
  if ((q = match('/logs/:client/:id'))) return <LogItem client={q.client} id={q.id} key={p} />;
  if (p === '/users') return <Users />;
  if (p === '/config') return <Customizing />;
  if (p === '/export') return <Export />;
  if (p === '/about') return <About />;
  return (
    <section class="section">
      <h1 class="title is-4">Not found</h1>
      <p>
        No page at {p}. <Link href="/passengers">Go to Passengers</Link>.
      </p>
    </section>
  );
}

export function App() {
  const [err, setErr] = useState(null);
  // At load the stream is opened first, then "me" says whether there is a
  // session at all (a 401 closes the stream again and shows the login).
  useEffect(() => {
    startLive();
    loadMe()
      .then(() => {
        if (me.value === null) stopLive();
      })
      .catch(setErr);
  }, []);
  useEffect(() => {
    if (me.value) startLive();
  }, [me.value]);
  // Move focus to the page title on navigation, for keyboard and screen
  // reader users.
  useEffect(() => {
    const h = document.getElementById('page-title');
    if (h) h.focus({ preventScroll: true });
  }, [path.value]);

  if (err) return <ErrorBox error={err} />;
  if (me.value === undefined) return <p class="section">Loading…</p>;
  if (me.value === null) return <Login />;
  if (path.value === '/login' || path.value === '/') navigate('/passengers', true);
  return (
    <>
      <TopBar />
      <Banner />
      <main class="container is-fluid">
        <Routes />
      </main>
    </>
  );
}
