// history.test.mjs — the charts open on the history databusd keeps: after
// drives that happened before the page was opened, the Passengers page's
// throughput and queue-depth charts are not empty at page load (they show
// what GET /api/v1/history says), live points are added to them as
// passengers complete, one definition can be charted alone, and the
// About page shows root the store's size and
// the commits' latency over time. Real Chromium on a throwaway
// databusd --demo; screenshots web-passengers-history.png and
// web-about-history.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Demo, launch, openPage, login, go, shot, sleep, waitFor, waitLive } from './lib.mjs';

let browser, demo;
before(async () => {
  browser = await launch();
  demo = await new Demo().start();
});
after(async () => {
  await demo?.stop();
  await browser?.close();
});

const sum = (a) => a.reduce((n, v) => n + v, 0);

// The chart's points and their sum, as the page drew them.
async function chart(page, label) {
  const el = page.locator(`.dbs-chart[data-chart="${label}"]`);
  return { points: Number(await el.getAttribute('data-points')), sum: Number(await el.getAttribute('data-sum')) };
}

// The demo client's history summed, once it stopped changing (no drive
// under way): what the page must show at load.
async function settledHistory(range) {
  let last = -1;
  let doc;
  await waitFor(async () => {
    doc = await demo.api('GET', `/api/v1/history?range=${range}`, null, 'demo');
    const now = sum(doc.series.done);
    const same = now === last && now > 0;
    last = now;
    if (!same) await sleep(300);
    return same;
  }, 30, 'the drives before the page to be in the history');
  return doc;
}

test('Passengers: the charts open on the history, then grow live', async () => {
  // Drives happened at start; stop the schedule so that nothing moves
  // while the page loads.
  await demo.api('POST', '/api/v1/system/pause', {}, 'root');
  const doc = await settledHistory('24h');
  const done1h = sum(doc.series.done.slice(-60));
  assert.ok(done1h > 0, 'the demo drove in the last hour');
  const page = await openPage(browser, demo);
  try {
    await login(page, 'demo');
    await go(page, 'Passengers');
    // Not empty at load: the last hour of the history, as the API has it.
    await waitFor(async () => (await chart(page, 'throughput')).sum === done1h, 5, 'the throughput chart to show the history');
    const thru = await chart(page, 'throughput');
    assert.equal(thru.points, 60);
    const depth = await chart(page, 'queue depth');
    assert.equal(depth.points, 60);
    // One definition's history alone.
    const mails = await demo.api('GET', '/api/v1/history/demo/mails?range=24h', null, 'demo');
    const mails1h = sum(mails.series.done.slice(-60));
    assert.ok(mails1h > 0 && mails1h < done1h, `mails ${mails1h} of ${done1h}`);
    await page.getByLabel('Chart definition').selectOption('demo/mails');
    await waitFor(async () => (await chart(page, 'throughput')).sum === mails1h, 5, "the mails definition's history");
    await page.getByLabel('Chart definition').selectOption('');
    await waitFor(async () => (await chart(page, 'throughput')).sum === done1h, 5, 'every definition again');
    // Live: a drive after the page opened adds to the last point.
    await waitLive(page);
    await demo.api('POST', '/api/v1/system/resume', {}, 'root');
    await page.locator('tr[data-def="demo/invoices"]').getByRole('button', { name: /Expedite/ }).click();
    await waitFor(async () => (await chart(page, 'throughput')).sum > done1h, 15, 'live points on the throughput chart');
    assert.equal((await chart(page, 'throughput')).points, 60);
    await shot(page, 'passengers-history');
    // 30 days: 720 hourly points, the same passengers.
    await page.getByRole('button', { name: '30 days' }).click();
    await waitFor(async () => (await chart(page, 'throughput')).points === 720, 5, 'the 30-day chart');
    const month = await demo.api('GET', '/api/v1/history?range=30d', null, 'demo');
    assert.ok((await chart(page, 'throughput')).sum >= sum(month.series.done.slice(0, -1)));
    assert.ok((await chart(page, 'throughput')).sum > 0);
    assert.deepEqual(page.errors, [], 'page errors or CSP violations');
  } finally {
    await page.context().close();
  }
});

test('About: root sees the store size and commit latency over time', async () => {
  const page = await openPage(browser, demo);
  try {
    await login(page, 'root');
    await go(page, 'About');
    await waitFor(async () => (await chart(page, 'store size')).sum > 0, 5, 'the store size chart');
    await waitFor(async () => (await chart(page, 'commit latency')).sum > 0, 5, 'the commit latency chart');
    assert.equal((await chart(page, 'store size')).points, 60);
    const sys = await demo.api('GET', '/api/v1/history/system', null, 'root');
    assert.ok(sys.series.used_bytes.at(-1) > 0);
    await shot(page, 'about-history');
    // The demo client's administrator has no system charts.
    await page.getByRole('button', { name: 'Logout' }).click();
    await login(page, 'demo');
    await go(page, 'About');
    await page.getByRole('table', { name: 'Workers' }).waitFor();
    assert.equal(await page.locator('.dbs-chart[data-chart="store size"]').count(), 0);
    assert.deepEqual(page.errors, [], 'page errors or CSP violations');
  } finally {
    await page.context().close();
  }
});
