// live.test.mjs — the live store of the web UI (issue 4) in real Chromium:
// new queue rows appear without a reload after an Expedite; a worker
// killed with SIGKILL shows its restart on About; GETs are not repeated
// while the socket is up; a revoked session's page returns to the login.
// Latencies are measured and reported (t.diagnostic), and checked against
// the 1 s goal scaled by $SCALE for a loaded machine.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Demo, launch, openPage, login, go, waitFor, waitLive, SCALE, shot } from './lib.mjs';

// The 1 s figures are printed; the assertions are for gross failure only
// (a loaded CI machine is no place for timing).
const GROSS_MS = 5000;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function withLivePage(who, body) {
  const demo = await new Demo().start();
  const page = await openPage(browser, demo);
  try {
    await login(page, who);
    await waitLive(page);
    await body(page, demo);
    assert.deepEqual(page.errors, [], 'page errors or CSP violations');
  } finally {
    await page.context().close();
    await demo.stop();
  }
}

test('queue page: Expedite makes new rows appear without a reload within 1 s', async (t) => {
  await withLivePage('root', async (page, demo) => {
    await go(page, 'Queue');
    await page.locator('tbody tr[data-id]').first().waitFor();
    await page.evaluate(() => (window.__noReload = true));
    const top = Number(await page.locator('tbody tr[data-id]').first().getAttribute('data-id'));
    const t0 = Date.now();
    await demo.api('POST', '/api/v1/passengers/demo/mails/expedite', {});
    // When the store has the new passenger (API poll) and when the page
    // shows it (DOM poll), measured side by side.
    let tApi = null;
    let tRow = null;
    await waitFor(async () => {
      if (tApi === null) {
        const items = (await demo.api('GET', '/api/v1/queue?limit=1', null, 'root')).items;
        if (items.length && items[0].id > top) tApi = Date.now();
      }
      if (tRow === null) {
        const id = Number(await page.locator('tbody tr[data-id]').first().getAttribute('data-id'));
        if (id > top) tRow = Date.now();
      }
      return tApi !== null && tRow !== null;
    }, 15, 'the new passengers in the store and on the page');
    assert.equal(await page.evaluate(() => window.__noReload), true, 'the page did not reload');
    const lag = tRow - tApi;
    t.diagnostic(`expedite -> row on the page: ${tRow - t0} ms; committed (seen over the API) -> row: ${lag} ms`);
    assert.ok(tRow - t0 <= GROSS_MS * SCALE + 1000, `row after ${tRow - t0} ms (expedite drives within 1 s)`);
    assert.ok(lag <= GROSS_MS * SCALE, `the row appeared ${lag} ms after the commit`);
    await shot(page, 'queue-live');
  });
});

test('about page: kill -9 of a worker shows its restart within 1 s', async (t) => {
  await withLivePage('root', async (page, demo) => {
    await go(page, 'About');
    const row = page.locator('tr[data-worker="demo/mails"]');
    await row.waitFor();
    const w = (await demo.api('GET', '/api/v1/about', null, 'root')).workers.find((x) => x.definition === 'mails');
    await waitFor(async () => (await row.locator('.worker-pid').innerText()).trim() === String(w.pid), 10, 'the pid on the page');
    const restarts = Number((await row.locator('.worker-restarts').innerText()).trim());
    const t0 = Date.now();
    process.kill(w.pid, 'SIGKILL');
    await waitFor(async () => Number((await row.locator('.worker-restarts').innerText()).trim()) > restarts, 15, 'the restart count to rise on the page');
    const tRestart = Date.now() - t0;
    await waitFor(async () => {
      const pid = (await row.locator('.worker-pid').innerText()).trim();
      return pid !== String(w.pid) && pid !== '—';
    }, 15, 'the new pid on the page');
    const tPid = Date.now() - t0;
    t.diagnostic(`kill -9 -> restart count on the page: ${tRestart} ms; -> new pid: ${tPid} ms`);
    assert.ok(tRestart <= GROSS_MS * SCALE, `restart shown after ${tRestart} ms`);
    await shot(page, 'about-restart');
  });
});

test('while connected, GETs already made are not repeated', async () => {
  await withLivePage('root', async (page) => {
    const gets = [];
    page.on('request', (r) => {
      if (r.method() === 'GET' && r.url().includes('/api/v1/')) gets.push(new URL(r.url()).pathname + new URL(r.url()).search);
    });
    await go(page, 'Queue');
    await page.locator('tbody tr[data-id]').first().waitFor();
    await go(page, 'Passengers');
    await go(page, 'Queue');
    await go(page, 'About');
    await go(page, 'Passengers');
    await page.waitForTimeout(500);
    const counts = {};
    for (const g of gets) counts[g] = (counts[g] || 0) + 1;
    for (const [url, n] of Object.entries(counts)) assert.equal(n, 1, `${url} fetched ${n} times: ${JSON.stringify(counts)}`);
  });
});

test('a revoked session returns the page to the login form', async () => {
  await withLivePage('demo', async (page, demo) => {
    await demo.api('POST', '/api/v1/users/demo/demo/revoke', {}, 'root');
    await page.getByRole('button', { name: 'Log in' }).waitFor({ timeout: 5000 * SCALE });
  });
});
