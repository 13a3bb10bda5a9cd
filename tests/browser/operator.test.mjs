// operator.test.mjs — the places where an operator used to get stuck, in
// real Chromium against a throwaway databusd each (issue 19, "dead ends"):
// the About page's databus-web row after Pause and Resume, a drive's log
// listing what it pulled, processed and pushed (folded, with links to the
// passengers), a webhook definition's Peek saying why nothing waits, and
// the page after Shutdown saying Databus has stopped, with Retry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { Demo, launch, openPage, login, go, shot, waitFor, waitLive, SCALE } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function withPage(who, body, opts) {
  const demo = await new Demo(opts).start();
  const page = await openPage(browser, demo);
  page.on('dialog', (d) => d.accept());
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

const webRow = (page) => page.locator('tr', { has: page.locator('th', { hasText: 'databus-web' }) }).locator('td');

test('About keeps databus-web\'s pid and address after Pause and Resume', async () => {
  await withPage('root', async (page, demo) => {
    await go(page, 'About');
    const full = new RegExp(`^pid \\d+, ready, \\d+ restarts, 127\\.0\\.0\\.1:${demo.port}$`);
    await waitFor(async () => full.test(await webRow(page).innerText()), 10, 'the databus-web row');
    await page.getByRole('button', { name: /Pause/ }).click();
    await page.getByRole('button', { name: /Resume/ }).waitFor();
    await page.getByRole('button', { name: /Resume/ }).click();
    await page.getByRole('button', { name: /Pause/ }).waitFor();
    // Both system events have arrived (the button follows them); the row
    // is still whole, not "pid , ready, 0 restarts,".
    assert.match(await webRow(page).innerText(), full);
  });
});

test('a drive\'s log lists what it pulled, processed and pushed, folded, with passenger links', async () => {
  await withPage('demo', async (page, demo) => {
    // A log of the mails definition with passengers in it.
    const log = await waitFor(async () => {
      const items = (await demo.api('GET', '/api/v1/logs?client=demo&limit=50', null, 'demo')).items;
      return items.find((l) => l.definition === 'mails' && l.seated > 0 && l.completed > 0);
    }, 30, 'a mails drive that seated and completed passengers');
    await page.goto(`${demo.url}/logs/demo/${log.id}`);
    await page.getByLabel('Log summary').waitFor();
    assert.match(await page.getByLabel('Log summary').innerText(), /drive \d+ ok: pulled \d+, seated \d+/);
    const details = page.locator('#log-details');
    await details.waitFor();
    assert.equal(await details.getAttribute('open'), null, 'folded by default');
    assert.equal(await page.getByLabel('Log entries').isVisible(), false);
    await details.locator('summary').click();
    const table = page.getByLabel('Log entries');
    await table.waitFor();
    const text = await table.innerText();
    assert.match(text, /inbox\s+pulled /, 'what was pulled, by which puller');
    // A completed mail was processed by only-xlsx and pushed to the outbox.
    assert.match(text, /only-xlsx\s+processed by only-xlsx/);
    assert.match(text, /outbox\s+pushed to outbox/);
    const full = await demo.api('GET', `/api/v1/logs/demo/${log.id}`, null, 'demo');
    await shot(page, 'log-view-details');
    const first = full.log.entries.find((e) => e.passenger_id);
    await table.getByRole('link', { name: `#${first.passenger_id}` }).first().click();
    await page.waitForURL(new RegExp(`/queue/demo/${first.passenger_id}$`));
    await page.locator('#page-title', { hasText: `#${first.passenger_id}` }).waitFor();
  });
});

// The demo's mails, and a webhook definition next to them.
function withWebhook(dir, port) {
  const w = (path, obj) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), JSON.stringify(obj, null, 2) + '\n');
  };
  mkdirSync(join(dir, 'out'), { recursive: true });
  w('databus.json', { data_dir: 'var', system_alias: 'HOOKS', clients_dir: 'clients', web: { enabled: true, listen: `127.0.0.1:${port}` } });
  w('clients/demo.json', {
    passengers: [
      { name: 'mails', sync_frequency: 1, pullers: [{ name: 'inbox', type: 'demo', kind: 'mail', per_drive: 1 }], pushers: [{ name: 'out', type: 'dir', path: join(dir, 'out') }] },
      { name: 'github', sync_frequency: 60, pullers: [{ name: 'hook', type: 'webhook', secret: 'a-secret-of-sixteen+' }], pushers: [{ name: 'out', type: 'dir', path: join(dir, 'out') }] },
    ],
    users: [{ username: 'demo', password: 'demo', role: 'administrator' }],
  });
  w('clients/root.json', { users: [{ username: 'root', password: 'root' }] });
  return join(dir, 'databus.json');
}

test('Peek of a webhook definition says why nothing waits', async () => {
  await withPage('demo', async (page) => {
    await go(page, 'Peek');
    await page.locator('#peek-def option[value="demo/github"]').waitFor({ state: 'attached' });
    await page.locator('#peek-def').selectOption('demo/github');
    await page.getByRole('button', { name: 'Peek', exact: true }).click();
    await page.locator('#peek-why').waitFor();
    assert.match(await page.locator('#peek-count').innerText(), /^0 item/);
    assert.match(await page.locator('#peek-why').innerText(), /"hook" is a webhook: each delivery to POST \/hooks\/demo\/github is seated/);
    // A source that is not a webhook explains nothing.
    await page.locator('#peek-def').selectOption('demo/mails');
    await page.getByRole('button', { name: 'Peek', exact: true }).click();
    await waitFor(async () => /^[1-9]\d* item/.test(await page.locator('#peek-count').innerText()), 10, 'the mails peek');
    assert.equal(await page.locator('#peek-why').count(), 0);
  }, { config: withWebhook });
});

test('after Shutdown the page says Databus has stopped and offers Retry', async () => {
  await withPage('root', async (page, demo) => {
    await go(page, 'About');
    await page.getByRole('button', { name: 'Shutdown Databus' }).click();
    const stopped = page.locator('#dbs-stopped');
    await stopped.waitFor({ timeout: 40000 * SCALE });
    assert.match(await stopped.innerText(), /Databus has stopped/);
    const { code } = await demo.exited;
    assert.equal(code, 0);
    // Nothing looks live any more: no Pause, no Shutdown, the badge says so.
    assert.equal(await page.getByRole('button', { name: 'Shutdown Databus' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: /Pause|Resume/ }).count(), 0);
    assert.equal(await page.locator('.dbs-live .tag').innerText(), 'stopped');
    await shot(page, 'stopped');
    // The page shows what Databus knew: its uptime no longer counts.
    const uptime = page.locator('tr', { has: page.locator('th', { hasText: 'Uptime' }) }).locator('td');
    const frozen = await uptime.innerText();
    // It stays stopped (no endless reconnecting), and Retry tries once.
    await page.waitForTimeout(1500);
    assert.equal(await page.getByText('reconnecting').count(), 0);
    assert.equal(await uptime.innerText(), frozen);
    await stopped.getByRole('button', { name: 'Retry' }).click();
    await stopped.getByText(/Tried again at .*still not running/).waitFor();
  });
});

test('Users: change a user\'s role, by the CLI\'s rules', async () => {
  await withPage('demo', async (page, demo) => {
    await demo.api('POST', '/api/v1/users', { client: 'demo', username: 'carol', password: 'carol-pw-1', role: 'operator' }, 'demo');
    const login = await fetch(demo.url + '/api/v1/login', {
      method: 'POST',
      headers: { Origin: demo.url, 'Content-Type': 'application/json' },
      body: JSON.stringify({ client: 'demo', username: 'carol', password: 'carol-pw-1' }),
    });
    assert.equal(login.status, 200);
    const cookie = login.headers.get('set-cookie').split(';')[0];
    await go(page, 'Users');
    const role = page.getByLabel('Role of demo/carol');
    await role.waitFor();
    // One's own role is not offered.
    assert.equal(await page.getByLabel('Role of demo/demo').count(), 0);
    assert.equal(await role.inputValue(), 'operator');
    await role.selectOption('administrator');
    await page.getByRole('status').filter({ hasText: /carol is now an administrator/ }).waitFor();
    assert.equal(await role.inputValue(), 'administrator');
    const listed = (await demo.api('GET', '/api/v1/users', null, 'demo')).items.find((u) => u.username === 'carol');
    assert.equal(listed.role, 'administrator');
    // Her session carried the old role: it has ended.
    assert.equal((await fetch(demo.url + '/api/v1/me', { headers: { Cookie: cookie } })).status, 401);
    await shot(page, 'users-role');
  });
});

test('Users as root: client root\'s users keep role root', async () => {
  await withPage('root', async (page, demo) => {
    await demo.api('POST', '/api/v1/users', { client: 'root', username: 'ops', password: 'ops-pw-123' }, 'root');
    await go(page, 'Users');
    await page.locator('tr[data-user="root/ops"]').waitFor();
    assert.equal(await page.getByLabel('Role of root/ops').count(), 0);
    assert.match(await page.locator('tr[data-user="root/ops"]').innerText(), /\broot\b/);
    // The server refuses it too, with the CLI's words.
    await assert.rejects(demo.api('POST', '/api/v1/users/root/ops/role', { role: 'administrator' }, 'root'), /400.*root/);
    await page.getByLabel('Role of demo/demo').selectOption('operator');
    await page.getByRole('status').filter({ hasText: /demo\/demo is now an operator/ }).waitFor();
  });
});
