// store.js — the browser's copy of Databus, kept live by the event stream.
//
// After the design of the Balsam web UI (docs/web.md, "Live updates"):
//  - the websocket is opened FIRST, then the initial GETs (me, definitions,
//    the last 100 queue items, recent logs, about);
//  - every event carries the full instance, so it is upserted by key; only
//    delete events remove anything; GETs only insert or update too;
//  - while the socket is connected, a GET already made is not made again
//    (we remember the list of GETs, not their answers);
//  - on a reconnect that list is forgotten and the stream resumes with
//    since=<last seq>; on "resync" everything is forgotten and refetched.
// Views read ordered subsets of these collections through computed()s.
import { signal, batch } from '@preact/signals';
import { get, setUnauthorizedHandler } from './api.js';

// A keyed collection: a signal holding a Map, replaced on every change so
// that views re-render. upsert() takes what the server says; events come
// in commit order, so they always win. An answer to a request may have
// been read before an event that was applied already: `older(prev, next)`
// tells when such an answer is behind what we hold, and it is then
// ignored (a GET never clobbers fresher data).
function collection(keyOf, older = () => false) {
  const items = signal(new Map());
  const put = (list, fromEvent) => {
    if (!list || list.length === 0) return;
    const m = new Map(items.value);
    for (const x of list) {
      const prev = m.get(keyOf(x));
      if (prev && !fromEvent && older(prev, x)) continue;
      m.set(keyOf(x), { ...(prev || {}), ...x });
    }
    items.value = m;
  };
  return {
    items,
    keyOf,
    upsert(list) {
      put(list, false);
    },
    upsertEvent(list) {
      put(list, true);
    },
    remove(list) {
      if (!list || list.length === 0) return;
      const m = new Map(items.value);
      for (const x of list) m.delete(keyOf(x));
      items.value = m;
    },
    removeWhere(pred) {
      const m = new Map();
      for (const [k, v] of items.value) if (!pred(v)) m.set(k, v);
      items.value = m;
    },
    clear() {
      items.value = new Map();
    },
  };
}

export const me = signal(undefined); // undefined: unknown; null: logged out
// (sessionStorage is the browser's; the store's tests run without one.)
export const loginWarning = signal(globalThis.sessionStorage?.getItem('dbs_warning') || '');
export const about = signal(null);
export const system = signal(null);
// off | connecting | open | closed | stopped (the socket closed after the
// system said it was shutting down: nothing reconnects until Retry).
export const live = signal('off');
export const lastRetry = signal(0); // when Retry last failed (ms), or 0
export const lastSeq = signal(0);
export const generation = signal(0); // bumped when past GETs are forgotten
export const eventCount = signal(0);

// What a detail GET brings that no event carries (a passenger's logs with
// their entries, a log's entries), by URL; kept like the collections.
export const details = signal(new Map());
export function setDetail(url, value) {
  const m = new Map(details.value);
  m.set(url, value);
  details.value = m;
}

const time = (t) => (t ? new Date(t).getTime() : 0);
const exportRank = (e) => (e.state === 'running' ? 0 : 1) + (e.progress || 0);

export const defs = collection((d) => `${d.client}/${d.name}`);
export const queue = collection(
  (p) => `${p.client}/${p.id}`,
  (prev, next) => time(next.updated) < time(prev.updated),
);
export const logs = collection((l) => `${l.client}/${l.id}`);
export const workers = collection((w) => `${w.client}/${w.definition}`);
export const users = collection((u) => `${u.client}/${u.username}`);
export const exportsColl = collection(
  (e) => e.id,
  (prev, next) => exportRank(next) < exportRank(prev),
);

const byResource = {
  definition: defs,
  queue_item: queue,
  log: logs,
  worker: workers,
  user: users,
  export: exportsColl,
};

// The Passengers charts: the history databusd keeps (GET
// /api/v1/history, the user's definitions summed, or
// /api/v1/history/{client}/{name} for one: 1-minute points for 24 h or
// 1-hour points for 30 days), with the live store adding to its last
// point (passengers done as their events arrive, the depth now) and a new
// point when a minute (hour) begins. Each range and definition is
// fetched once while the socket is connected (fetchOnce), then kept
// current by the live store.
export const history = signal(new Map()); // historyKey -> {range, def, step, points: [{t, done, depth}]}
export const historyKey = (range, def) => `${range} ${def}`;
// Passengers done since the last sample, by "client/definition".
let doneSince = new Map();

function historyPoints(doc, seriesA, seriesB) {
  const a = doc.series[seriesA] || [];
  const b = doc.series[seriesB] || [];
  return a.map((v, i) => ({ t: doc.start_ms + i * doc.step_ms, a: v, b: b[i] ?? 0 }));
}

// def: "client/name" for one definition, '' for all of them.
export function fetchHistory(range = '24h', def = '') {
  const key = historyKey(range, def);
  return fetchOnce('history ' + key, async () => {
    const [c, n] = def ? def.split('/') : [];
    const doc = await get(def ? `/api/v1/history/${encodeURIComponent(c)}/${encodeURIComponent(n)}?range=${range}` : `/api/v1/history?range=${range}`);
    const m = new Map(history.value);
    m.set(key, {
      range,
      def,
      step: doc.step_ms,
      points: historyPoints(doc, 'done', 'pending').map((p) => ({ t: p.t, done: p.a, depth: p.b })),
    });
    history.value = m;
  });
}

// The About page's charts (root): the store's used bytes and the commits'
// mean latency over time, as databusd keeps them. No event carries these,
// so the page asks again once a minute (refresh); a visit to the page
// does not ask again while the socket is connected.
export const systemHistory = signal(null); // {range, step, points: [{t, used, commit_us}]}

export function fetchSystemHistory(range = '24h', refresh = false) {
  const load = async () => {
    const doc = await get(`/api/v1/history/system?range=${range}`);
    systemHistory.value = {
      range,
      step: doc.step_ms,
      points: historyPoints(doc, 'used_bytes', 'commit_us_mean').map((p) => ({ t: p.t, used: p.a, commit_us: p.b })),
    };
  };
  if (refresh) return load();
  return fetchOnce('history system ' + range, load);
}

// ------------------------------------------------------------- GET memory

const fetched = new Set();

// Run `fn` (a GET that upserts) unless the same key was already fetched
// while the socket is connected. Without a live socket every call fetches.
export async function fetchOnce(key, fn) {
  if (live.value === 'open' && fetched.has(key)) return;
  fetched.add(key);
  try {
    await fn();
  } catch (e) {
    fetched.delete(key);
    throw e;
  }
}

function forgetGets() {
  fetched.clear();
  generation.value++;
}

// ------------------------------------------------------------ initial data

export async function loadMe() {
  try {
    me.value = await get('/api/v1/me');
  } catch (e) {
    if (e.status === 401) me.value = null;
    else throw e;
  }
}

export function applyAbout(a) {
  batch(() => {
    about.value = a;
    if (a.system) system.value = a.system;
    if (a.workers) workers.upsert(a.workers);
  });
}

// The quotas of the clients this user sees ($.quotas of databus.json),
// with `hit` naming the quota that pauses a client's intake. Not carried
// by events: refreshed by pollQuotas() while a client the user sees has
// any quota.
export const quotas = signal([]);

export const fetchDefs = () =>
  fetchOnce('defs', async () => {
    const r = await get('/api/v1/passengers');
    batch(() => {
      defs.upsert(r.items);
      quotas.value = r.quotas || [];
    });
  });

const limited = (q) =>
  q.store_quota || q.max_pending || q.webhook_rate || q.max_concurrent_drives;

// Ask again every `ms` while some quota applies; returns the stopper.
export function pollQuotas(ms = 3000) {
  const t = setInterval(async () => {
    if (!me.value || !quotas.value.some(limited)) return;
    try {
      quotas.value = (await get('/api/v1/passengers')).quotas || [];
    } catch {
      // the next turn tries again; the live badge says what is wrong
    }
  }, ms);
  return () => clearInterval(t);
}
export const fetchAbout = () =>
  fetchOnce('about', async () => applyAbout(await get('/api/v1/about')));

async function initialFetches() {
  await Promise.allSettled([
    fetchOnce('me', loadMe),
    fetchDefs(),
    fetchOnce('queue?limit=100', async () =>
      queue.upsert((await get('/api/v1/queue?limit=100')).items)),
    fetchOnce('logs?limit=100', async () =>
      logs.upsert((await get('/api/v1/logs?limit=100')).items)),
    fetchAbout(),
  ]);
}

// ------------------------------------------------------------- the stream

// A system event is the public state (no pids, no data dir, no listen
// address: webui/live.c sends it to every user), while /api/v1/about gives
// root the full one. Merge one level deep, so that an event (after any
// Pause or Resume) keeps what only the full state had: databus-web's pid
// and address survive next to its new state and restarts.
export function mergeSystem(prev, next) {
  const out = { ...(prev || {}), ...next };
  if (prev && prev.web && next && next.web) out.web = { ...prev.web, ...next.web };
  return out;
}

let ws = null;
let retryMs = 500;
let retryTimer = null;
let stopped = true;

function applyEvent(ev) {
  if (ev.resource === 'system') {
    system.value = mergeSystem(system.value, ev.data);
    return;
  }
  const coll = byResource[ev.resource];
  if (!coll) return;
  let list = ev.kind.endsWith('_list') ? (ev.data && ev.data.items) || [] : [ev.data];
  if (coll === queue) countQueueChanges(ev.kind, list);
  if (ev.kind.startsWith('delete')) {
    coll.remove(list);
    return;
  }
  if (coll === defs) {
    // A definition event carries no queue counts (databusd only counts
    // for the status request): keep the ones we have, kept current below.
    const have = defs.items.value;
    list = list.map((d) => {
      const prev = have.get(defs.keyOf(d));
      if (!prev) return d;
      const { pending, done, dead, ...rest } = d;
      return rest;
    });
  }
  coll.upsertEvent(list);
}

// Keep each definition's pending/done/dead counts current from the queue
// events: a created passenger adds one to its state, a state change moves
// one, a deleted passenger removes one. An update of a passenger we never
// saw cannot be counted (its old state is unknown); the counts are exact
// again at the next GET of the definitions.
function countQueueChanges(kind, list) {
  const old = queue.items.value;
  const delta = new Map();
  const add = (p, state, n) => {
    const k = `${p.client}/${p.definition}`;
    const d = delta.get(k) || { pending: 0, done: 0, dead: 0 };
    if (state in d) d[state] += n;
    delta.set(k, d);
  };
  for (const p of list) {
    const prev = old.get(queue.keyOf(p));
    if (kind.startsWith('delete')) {
      add(p, (prev || p).state, -1);
      continue;
    }
    if (p.state === 'done' && (!prev || prev.state !== 'done')) {
      const k = `${p.client}/${p.definition}`;
      doneSince.set(k, (doneSince.get(k) || 0) + 1);
    }
    if (prev) {
      if (prev.state !== p.state) {
        add(p, prev.state, -1);
        add(p, p.state, +1);
      }
    } else if (kind.startsWith('create')) {
      add(p, p.state, +1);
    }
  }
  if (delta.size === 0) return;
  const m = new Map(defs.items.value);
  for (const [k, d] of delta) {
    const def = m.get(k);
    if (!def) continue;
    m.set(k, {
      ...def,
      pending: Math.max(0, (def.pending || 0) + d.pending),
      done: Math.max(0, (def.done || 0) + d.done),
      dead: Math.max(0, (def.dead || 0) + d.dead),
    });
  }
  defs.items.value = m;
}

function onMessage(msg) {
  let m;
  try {
    m = JSON.parse(msg.data);
  } catch {
    return;
  }
  applyMessage(m);
}

// One message of the stream (parsed): hello, event, resync or heartbeat.
// Exported for webui/app/test/store.test.mjs.
export function applyMessage(m) {
  switch (m.type) {
    case 'hello':
      // A first connection starts after hello.seq. A resume keeps its own
      // lastSeq: the events after it are replayed next, and if the socket
      // drops before they arrive, the next resume must still ask for them.
      if (!lastSeq.value) lastSeq.value = m.seq || 0;
      initialFetches();
      break;
    case 'event':
      // An event without seq is the system state databusd sent while the
      // store takes no writes (a full disk): it is in no log, so the
      // resume point stays where it is.
      batch(() => {
        applyEvent(m);
        if (m.seq) lastSeq.value = m.seq;
        eventCount.value++;
      });
      break;
    case 'resync':
      batch(() => {
        for (const c of Object.values(byResource)) c.clear();
        lastSeq.value = m.seq;
        forgetGets();
      });
      initialFetches();
      break;
    default: /* heartbeat */
      if (m.seq) lastSeq.value = Math.max(lastSeq.value, m.seq);
  }
}

function connect() {
  retryTimer = null;
  if (stopped) return;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const since = lastSeq.value ? `?since=${lastSeq.value}` : '';
  live.value = 'connecting';
  let opened = false;
  try {
    ws = new WebSocket(`${proto}//${location.host}/api/v1/events${since}`);
  } catch {
    scheduleRetry();
    return;
  }
  ws.onopen = () => {
    opened = true;
    retrying = false;
    lastRetry.value = 0;
    retryMs = 500;
    live.value = 'open';
  };
  ws.onmessage = onMessage;
  ws.onclose = (e) => {
    ws = null;
    forgetGets();
    if (e.code === 4401) {
      live.value = 'closed';
      sessionEnded();
      return;
    }
    // Databus said it was shutting down, and now its web is gone: it has
    // stopped, and nothing will answer until someone starts it again.
    // Say so and wait for the user's Retry instead of a reconnecting that
    // never ends.
    if (system.value && system.value.shutting_down) {
      live.value = 'stopped';
      if (retrying) lastRetry.value = Date.now();
      retrying = false;
      return;
    }
    live.value = 'closed';
    // The stream is not there (or refused us): work from plain GETs.
    if (!opened) initialFetches();
    scheduleRetry();
  };
}

let retrying = false;

// The user's Retry (after a stop, or while reconnecting): connect now.
export function retryNow() {
  if (stopped) return;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  retryMs = 500;
  retrying = live.value === 'stopped';
  if (!ws) connect();
}

function scheduleRetry() {
  if (stopped || retryTimer) return;
  retryTimer = setTimeout(connect, retryMs);
  retryMs = Math.min(retryMs * 2, 10000);
}

let sampler = null;

// Every 2 s: what the live store saw goes into each fetched history's
// last point, or a new one once its minute (hour) has passed.
function sample() {
  const seen = doneSince;
  doneSince = new Map();
  if (!history.value.size) return;
  const m = new Map();
  for (const [key, h] of history.value) m.set(key, sampleOne(h, seen));
  history.value = m;
}

function sampleOne(h, seen) {
  if (!h.points.length) return h;
  let depth = 0;
  for (const d of defs.items.value.values()) if (!h.def || h.def === `${d.client}/${d.name}`) depth += d.pending || 0;
  let done = 0;
  for (const [k, n] of seen) if (!h.def || h.def === k) done += n;
  const slot = Math.floor(Date.now() / h.step) * h.step;
  const points = h.points.slice();
  for (let k = 0; k < h.points.length && points[points.length - 1].t < slot; k++) {
    points.push({ t: points[points.length - 1].t + h.step, done: 0, depth: points[points.length - 1].depth });
    points.shift();
  }
  const last = points[points.length - 1];
  points[points.length - 1] = { t: last.t, done: last.done + done, depth };
  return { ...h, points };
}

// Start the stream (first) and the initial fetches, after a login.
export function startLive() {
  if (!stopped) return;
  stopped = false;
  retryMs = 500;
  connect();
  if (!sampler) {
    setTimeout(sample, 500);
    sampler = setInterval(sample, 2000);
  }
}

export function stopLive() {
  stopped = true;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  if (ws) {
    ws.onclose = null;
    ws.close();
    ws = null;
  }
  if (sampler) clearInterval(sampler);
  sampler = null;
  live.value = 'off';
  batch(() => {
    for (const c of Object.values(byResource)) c.clear();
    about.value = null;
    system.value = null;
    lastRetry.value = 0;
    details.value = new Map();
    history.value = new Map();
    systemHistory.value = null;
    lastSeq.value = 0;
    forgetGets();
  });
}

export function sessionEnded() {
  stopLive();
  me.value = null;
}

setUnauthorizedHandler(() => {
  if (me.value) sessionEnded();
});

export function setWarning(w) {
  loginWarning.value = w || '';
  if (w) sessionStorage.setItem('dbs_warning', w);
  else sessionStorage.removeItem('dbs_warning');
}

// ----------------------------------------------------------------- roles

const rank = { operator: 1, administrator: 2, root: 3 };
export const isRoot = () => me.value && me.value.role === 'root';
export const isAdmin = () => me.value && rank[me.value.role] >= 2;
