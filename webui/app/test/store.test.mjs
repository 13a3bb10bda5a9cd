// store.test.mjs — the merge rules of the app's live store (src/store.js),
// under node --test, without a browser: the messages of the event stream
// go in through applyMessage, GET answers through upsert, and fetch is a
// stub that records the GETs a resync makes.
//
//   cd webui/app && node --test test/
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

const gets = [];
globalThis.fetch = async (path) => {
  gets.push(path);
  const body = path.startsWith('/api/v1/me')
    ? { client: 'acme', username: 'ann', role: 'administrator' }
    : { items: [] };
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { 'content-type': 'application/json' },
  });
};

const store = await import('../src/store.js');
const { queue, defs, exportsColl, lastSeq, applyMessage } = store;

const event = (seq, resource, kind, data) => ({ type: 'event', seq, resource, kind, data });
const item = (id, state, updated, extra = {}) => ({
  client: 'acme',
  definition: 'orders',
  id,
  state,
  updated: new Date(updated * 1000).toISOString(),
  ...extra,
});
const def = () => defs.items.value.get('acme/orders');

beforeEach(() => {
  store.stopLive(); // clears every collection and the resume point
  gets.length = 0;
  defs.upsert([{ client: 'acme', name: 'orders', pending: 1, done: 0, dead: 0 }]);
});

test('a GET answer older than what an event brought is dropped', () => {
  applyMessage(event(1, 'queue_item', 'update', item(7, 'done', 20)));
  queue.upsert([item(7, 'pending', 10)]);
  assert.equal(queue.items.value.get('acme/7').state, 'done');
  // A newer answer wins, and merges into what is held.
  queue.upsert([{ ...item(7, 'dead', 30), note: 'x' }]);
  assert.equal(queue.items.value.get('acme/7').state, 'dead');
  assert.equal(queue.items.value.get('acme/7').note, 'x');
  // Events always win: they come in commit order.
  applyMessage(event(2, 'queue_item', 'update', item(7, 'pending', 5)));
  assert.equal(queue.items.value.get('acme/7').state, 'pending');
  assert.equal(lastSeq.value, 2);
});

test('an export answer behind the running export is dropped', () => {
  applyMessage(event(1, 'export', 'update', { id: 'e1', state: 'running', progress: 0.5 }));
  exportsColl.upsert([{ id: 'e1', state: 'running', progress: 0.2 }]);
  assert.equal(exportsColl.items.value.get('e1').progress, 0.5);
  exportsColl.upsert([{ id: 'e1', state: 'done', progress: 1 }]);
  assert.equal(exportsColl.items.value.get('e1').state, 'done');
});

test('queue events keep the running counts of their definition', () => {
  applyMessage(event(1, 'queue_item', 'create', item(1, 'pending', 1)));
  assert.deepEqual([def().pending, def().done, def().dead], [2, 0, 0]);
  applyMessage(event(2, 'queue_item', 'update', item(1, 'done', 2)));
  assert.deepEqual([def().pending, def().done, def().dead], [1, 1, 0]);
  // Same state again: nothing moves.
  applyMessage(event(3, 'queue_item', 'update', item(1, 'done', 3)));
  assert.deepEqual([def().pending, def().done, def().dead], [1, 1, 0]);
  // An update of a passenger never seen cannot be counted.
  applyMessage(event(4, 'queue_item', 'update', item(2, 'dead', 4)));
  assert.deepEqual([def().pending, def().done, def().dead], [1, 1, 0]);
  applyMessage(event(5, 'queue_item', 'delete', item(1, 'done', 5)));
  assert.deepEqual([def().pending, def().done, def().dead], [1, 0, 0]);
  assert.equal(queue.items.value.has('acme/1'), false);
  // A definition event carries no counts: the held ones stay.
  applyMessage(event(6, 'definition', 'update', { client: 'acme', name: 'orders', pending: 0, paused: true }));
  assert.equal(def().pending, 1);
  assert.equal(def().paused, true);
  // A list event counts each of its items; no count goes below zero.
  applyMessage(
    event(7, 'queue_item', 'delete_list', { items: [item(8, 'pending', 7), item(9, 'pending', 7)] }),
  );
  assert.equal(def().pending, 0);
});

test('resync forgets everything and fetches it again', async () => {
  applyMessage(event(4, 'queue_item', 'create', item(1, 'pending', 1)));
  assert.equal(queue.items.value.size, 1);
  applyMessage({ type: 'resync', seq: 40 });
  assert.equal(queue.items.value.size, 0);
  assert.equal(defs.items.value.size, 0);
  assert.equal(lastSeq.value, 40);
  await new Promise((r) => setTimeout(r, 20));
  for (const path of ['/api/v1/me', '/api/v1/passengers', '/api/v1/queue?limit=100', '/api/v1/logs?limit=100', '/api/v1/about'])
    assert.ok(gets.includes(path), `${path} fetched again (${gets})`);
  // Heartbeats only move the resume point forward.
  applyMessage({ type: 'heartbeat', seq: 30 });
  assert.equal(lastSeq.value, 40);
  applyMessage({ type: 'heartbeat', seq: 41 });
  assert.equal(lastSeq.value, 41);
});

test('a public system event keeps what only the full state had', () => {
  store.applyAbout({ system: { paused: false, pid: 7, web: { pid: 9, state: 'ready', restarts: 0, listen: '127.0.0.1:5000' } } });
  applyMessage(event(5, 'system', 'update', { paused: true, web: { state: 'ready', restarts: 1 } }));
  const s = store.system.value;
  assert.equal(s.paused, true);
  assert.equal(s.pid, 7);
  assert.deepEqual(s.web, { pid: 9, state: 'ready', restarts: 1, listen: '127.0.0.1:5000' });
  // web disabled (null) replaces the object
  applyMessage(event(6, 'system', 'update', { web: null }));
  assert.equal(store.system.value.web, null);
});
