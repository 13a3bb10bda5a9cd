// sections.test.mjs — every section of the web UI in real Chromium, as the
// demo client's administrator and as root, against a throwaway
// databusd --demo each. Each test saves its screenshot to
// docs/img/web-<section>.png (the root run; the demo run to
// web-<section>-demo.png) and fails on any page error or CSP violation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Demo, launch, openPage, login, go, shot, waitFor, waitLive, editorText, setEditorText, SCALE } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

// Run `body(page, demo)` on a fresh demo, logged in as `who`.
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

const name = (section, who) => (who === 'root' ? section : `${section}-demo`);

test('login page: wrong password shows the API error, right one logs in', async () => {
  const demo = await new Demo().start();
  const page = await openPage(browser, demo);
  try {
    // The login page names the system it logs into.
    await page.getByRole('heading', { name: /DEMO/ }).waitFor();
    await page.getByLabel('Client').fill('demo');
    await page.getByLabel('Username').fill('demo');
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /unauthorized|invalid|password/i);
    await shot(page, 'login');
    await page.getByLabel('Password').fill('demo');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('button', { name: 'Logout' }).waitFor();
    assert.match(await page.locator('.dbs-nav-user').innerText(), /demo\/demo \(administrator\)/);
    assert.deepEqual(page.errors, []);
  } finally {
    await page.context().close();
    await demo.stop();
  }
});

for (const who of ['demo', 'root']) {
  test(`${who}: passengers list and Expedite`, async () => {
    await withPage(who, async (page, demo) => {
      await go(page, 'Passengers');
      const row = page.locator('tr[data-def="demo/mails"]');
      await row.waitFor();
      const before = (await demo.api('GET', '/api/v1/passengers', null, 'root')).items.find((d) => d.name === 'mails').last_run;
      // pending / done / dead, as shown: the new passengers count live.
      const counts = async () => (await row.locator('.def-counts').innerText()).split('/').map((x) => Number(x.trim()));
      await waitFor(async () => (await counts())[1] > 0, 10, 'the done count');
      const [p0, d0] = await counts();
      await row.getByRole('button', { name: /Expedite/ }).click();
      await page.getByRole('status').filter({ hasText: /drive/ }).waitFor();
      await waitFor(async () => (await demo.api('GET', '/api/v1/passengers', null, 'root')).items.find((d) => d.name === 'mails').last_run !== before, 10, 'the expedited drive');
      await waitFor(async () => {
        const [p1, d1] = await counts();
        return p1 + d1 > p0 + d0;
      }, 10, 'the new passengers counted on the page without a reload');
      await page.waitForTimeout(4500); // a few chart samples
      await shot(page, name('passengers', who));
    });
  });

  test(`${who}: queue, open a passenger, toggle a status, view an attachment`, async () => {
    await withPage(who, async (page, demo) => {
      await go(page, 'Queue');
      const first = page.locator('tbody tr[data-id]').first();
      await first.waitFor();
      await shot(page, name('queue', who));
      const items = (await demo.api('GET', '/api/v1/queue?client=demo&passenger=mails&limit=1', null, 'root')).items;
      const p = items[0];
      await page.goto(`${demo.url}/queue/demo/${p.id}`);
      await page.getByRole('table', { name: 'Steps' }).waitFor();
      // Toggle a complete step's status to incomplete, paused so that no
      // drive completes it again before we look.
      await demo.api('POST', '/api/v1/system/pause', {}, 'root');
      const step = p.steps.find((s) => s.state === 'complete' && s.kind !== 'notify') || p.steps.find((s) => s.state === 'complete');
      const btn = page.locator(`tr[data-step="${step.name}"] button.step-toggle`);
      const was = (await btn.innerText()).trim();
      await btn.click();
      await waitFor(async () => {
        const now = (await demo.api('GET', `/api/v1/queue/demo/${p.id}`, null, 'root')).passenger.steps.find((s) => s.name === step.name).state;
        return (was === 'complete') === (now !== 'complete');
      }, 10, 'the step status to change in the store');
      await waitFor(async () => (await btn.innerText()).trim() !== was, 10, 'the status button to change');
      // View a text attachment, shown as text.
      const att = p.attachments.find((a) => a.content_type.startsWith('text/'));
      assert.ok(att, 'the demo passenger has a text attachment');
      await page.locator(`li[data-attachment="${att.name}"]`).getByRole('button', { name: 'View' }).click();
      await page.locator('pre.attachment-text').waitFor();
      assert.ok((await page.locator('pre.attachment-text').innerText()).length > 0);
      // Any other type is downloaded, never rendered.
      const bin = p.attachments.find((a) => !a.content_type.startsWith('text/') && !a.content_type.startsWith('image/'));
      if (bin) {
        const [dl] = await Promise.all([
          page.waitForEvent('download'),
          page.locator(`li[data-attachment="${bin.name}"]`).getByRole('link', { name: 'Download' }).click(),
        ]);
        assert.equal(dl.suggestedFilename(), bin.name);
      }
      await shot(page, name('passenger', who));
    });
  });

  test(`${who}: queue filters, search by id and Purge`, async () => {
    await withPage(who, async (page, demo) => {
      await go(page, 'Queue');
      await page.locator('tbody tr[data-id]').first().waitFor();
      const all = (await demo.api('GET', '/api/v1/queue?limit=500', null, 'root')).items;
      const target = all[all.length - 1];
      await page.getByLabel('Search (id or external id)').fill(String(target.id));
      await page.getByRole('button', { name: 'Apply' }).click();
      await waitFor(async () => (await page.locator('tbody tr[data-id]').count()) === 1, 10, 'one row for the id');
      assert.equal(await page.locator('tbody tr[data-id]').first().getAttribute('data-id'), String(target.id));
      await page.getByLabel('Search (id or external id)').fill('');
      await page.getByLabel('State').selectOption('done');
      await page.getByRole('button', { name: 'Apply' }).click();
      await page.getByRole('button', { name: 'Purge completed' }).click();
      await waitFor(async () => (await demo.api('GET', '/api/v1/queue?state=done&limit=500', null, 'root')).items.length === 0, 15, 'no done passenger left');
      await waitFor(async () => (await page.locator('tbody tr[data-id]').count()) === 0, 10, 'the purged rows to go');
    });
  });

  test(`${who}: log list, view and Purge`, async () => {
    await withPage(who, async (page, demo) => {
      await go(page, 'Log');
      const row = page.locator('tbody tr[data-id]').first();
      await row.waitFor();
      await shot(page, name('log', who));
      await row.getByRole('link').click();
      await page.getByLabel('Log summary').waitFor();
      await waitFor(async () => /drive \d+/.test(await page.getByLabel('Log summary').innerText()), 10, 'the log summary');
      await shot(page, name('log-view', who));
      await go(page, 'Log');
      await page.getByRole('button', { name: 'Purge logs' }).click();
      await waitFor(async () => (await demo.api('GET', '/api/v1/logs?client=demo', null, 'root')).items.length === 0, 15, 'the logs to be purged');
      await waitFor(async () => (await page.locator('tbody tr[data-id]').count()) === 0, 10, 'the purged rows to go');
    });
  });

  test(`${who}: users: add, change password, revoke, remove`, async () => {
    await withPage(who, async (page, demo) => {
      await go(page, 'Users');
      await page.locator('tr[data-user="demo/demo"]').waitFor();
      if (who === 'root') await page.getByLabel('Client', { exact: true }).fill('demo');
      await page.getByLabel('Username', { exact: true }).fill('carol');
      await page.getByLabel('Password', { exact: true }).fill('carol-pw-1');
      await page.getByRole('button', { name: 'Add', exact: true }).click();
      const row = page.locator('tr[data-user="demo/carol"]');
      await row.waitFor();
      // carol logs in over the API; Revoke token ends that session.
      const login = await fetch(demo.url + '/api/v1/login', {
        method: 'POST',
        headers: { Origin: demo.url, 'Content-Type': 'application/json' },
        body: JSON.stringify({ client: 'demo', username: 'carol', password: 'carol-pw-1' }),
      });
      assert.equal(login.status, 200);
      const cookie = login.headers.get('set-cookie').split(';')[0];
      await row.getByRole('button', { name: /Revoke token/ }).click();
      await page.getByRole('status').filter({ hasText: /session/ }).waitFor();
      await waitFor(async () => (await fetch(demo.url + '/api/v1/me', { headers: { Cookie: cookie } })).status === 401, 5, 'the revoked session to be dead');
      await page.getByLabel('New password for demo/carol').fill('carol-pw-2');
      await row.getByRole('button', { name: 'Change' }).click();
      await page.getByRole('status').filter({ hasText: /Password/ }).waitFor();
      await shot(page, name('users', who));
      await row.getByRole('button', { name: /Remove/ }).click();
      await waitFor(async () => (await row.count()) === 0, 10, 'the removed user to go');
    });
  });

  test(`${who}: customizing: invalid save refused, save, diff and restore`, async () => {
    await withPage(who, async (page, demo) => {
      await go(page, 'Customizing');
      const node = page.locator('button[data-node="demo"]');
      await node.waitFor();
      // databusd --demo runs from real files in its data dir: the demo's
      // administrator sees its client file, root every node.
      if (who === 'demo') assert.equal(await page.locator('button[data-node="__databus"]').count(), 0);
      else
        for (const n of ['__databus', '__clients', 'root', 'extra/accounts.json'])
          await page.locator(`button[data-node="${n}"]`).waitFor();
      await node.click();
      const editor = page.getByLabel('demo configuration');
      await editor.waitFor();
      const text = () => editorText(page);
      const original = (await demo.api('GET', '/api/v1/config/demo', null, who)).content;
      await waitFor(async () => (await text()) === original, 10, 'the node in the editor');
      const demoFile = join(demo.dir, 'var/demo-config/clients/demo.json');
      const onDisk = readFileSync(demoFile, 'utf8');
      await setEditorText(page, '{ "passengers": 7 }');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('alert').waitFor();
      assert.match(await page.getByRole('alert').innerText(), /invalid_config|passengers/);
      // A valid change: the same content plus a harmless trailing newline.
      await setEditorText(page, original.trimEnd() + '\n\n');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('status').waitFor();
      const backup = page.locator('tr[data-backup]').first();
      await backup.waitFor();
      await backup.getByRole('button', { name: 'Diff' }).click();
      await page.getByLabel('Differences').waitFor();
      await shot(page, name('customizing', who));
      await backup.getByRole('button', { name: 'Restore' }).click();
      await waitFor(async () => (await text()) === original, 10, 'the restored content');
      // Saved and restored on disk, in the demo's own configuration.
      // (the editor shows secrets redacted; the file keeps them).
      assert.equal(readFileSync(demoFile, 'utf8'), onDisk);
    });
  });

  test(`${who}: export: sync download, async with progress and download`, async () => {
    await withPage(who, async (page, demo) => {
      await go(page, 'Export');
      if (who === 'root') await page.getByLabel('Client').selectOption('demo');
      const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: /Sync export/ }).click()]);
      const body = JSON.parse(readFileSync(await dl.path(), 'utf8'));
      assert.equal(body.format, 'databus-export');
      await page.getByRole('button', { name: /Async export/ }).click();
      const link = page.locator('tr[data-export]').first().getByRole('link', { name: 'Download' });
      await link.waitFor({ timeout: 30000 });
      const [dl2] = await Promise.all([page.waitForEvent('download'), link.click()]);
      assert.equal(JSON.parse(readFileSync(await dl2.path(), 'utf8')).format, 'databus-export');
      if (who === 'root') {
        // The hot copy is its own target, with nothing to fill in.
        await page.getByLabel('Target').selectOption('lmdb');
        assert.equal(await page.getByLabel('Client').count(), 0);
        await page.getByRole('button', { name: /Hot copy/ }).click();
        await waitFor(async () => (await page.locator('tr[data-export]').count()) >= 2, 10, 'the hot copy in the list');
      } else {
        assert.equal(await page.getByRole('button', { name: /Hot copy/ }).count(), 0);
      }
      await shot(page, name('export', who));
    });
  });

  test(`${who}: peek into a source`, async () => {
    await withPage(who, async (page) => {
      await go(page, 'Peek');
      await page.getByLabel('Definition').selectOption('demo/mails');
      await page.getByRole('button', { name: 'Peek', exact: true }).click();
      await page.getByText(/item\(s\) waiting/).waitFor();
      await shot(page, name('peek', who));
    });
  });

  test(`${who}: about shows versions, uptime and workers`, async () => {
    await withPage(who, async (page) => {
      await go(page, 'About');
      await page.locator('tr[data-worker="demo/mails"]').waitFor();
      assert.match(await page.locator('#about-version').innerText(), /\d+\.\d+/);
      await shot(page, name('about', who));
    });
  });

  test(`${who}: logout ends the session`, async () => {
    await withPage(who, async (page, demo) => {
      const cookies = await page.context().cookies();
      const c = cookies.find((x) => x.name === 'dbs_session');
      assert.ok(c, 'session cookie set');
      await page.getByRole('button', { name: 'Logout' }).click();
      await page.getByRole('button', { name: 'Log in' }).waitFor();
      const r = await fetch(demo.url + '/api/v1/me', { headers: { Cookie: `dbs_session=${c.value}` } });
      assert.equal(r.status, 401);
    });
  });
}

test('demo: root-only actions are hidden', async () => {
  await withPage('demo', async (page) => {
    assert.equal(await page.getByRole('button', { name: /Shutdown/ }).count(), 0);
    assert.equal(await page.getByRole('button', { name: /Pause/ }).count(), 0);
  });
});

test('root: pause and resume show the system banner', async () => {
  await withPage('root', async (page) => {
    await waitLive(page).catch(() => {});
    await page.getByRole('button', { name: /Pause/ }).click();
    await page.getByText(/Databus is paused/).waitFor();
    await shot(page, 'banner-paused');
    await page.getByRole('button', { name: /Resume/ }).click();
    await waitFor(async () => (await page.getByText(/Databus is paused/).count()) === 0, 10, 'the banner to go');
  });
});

test('root: shut down a throwaway instance', async () => {
  await withPage('root', async (page, demo) => {
    await page.getByRole('button', { name: /Shutdown/ }).click();
    const r = await Promise.race([demo.exited, new Promise((res) => setTimeout(() => res(null), 40000))]);
    assert.ok(r, 'databusd exits after Shutdown');
    assert.equal(r.code, 0);
  });
});

test('keyboard only, on a phone-sized screen', async () => {
  const demo = await new Demo().start();
  const context = await browser.newContext({ viewport: { width: 390, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(demo.url + '/queue');
    await page.getByLabel('Client').waitFor();
    // Tab through the form: every field is reachable and labelled.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'login-client');
    await page.keyboard.type('demo');
    await page.keyboard.press('Tab');
    await page.keyboard.type('demo');
    await page.keyboard.press('Tab');
    await page.keyboard.type('demo');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'menu' }).waitFor();
    // The deep link survived the login; the menu opens from the burger.
    await page.locator('#page-title', { hasText: 'Queue' }).waitFor();
    await page.getByRole('button', { name: 'menu' }).focus();
    await page.keyboard.press('Enter');
    const about = page.getByRole('navigation', { name: 'main navigation' }).getByRole('link', { name: 'About', exact: true });
    await about.waitFor();
    await about.focus();
    await page.keyboard.press('Enter');
    await page.locator('#page-title', { hasText: 'About' }).waitFor();
    // The app moves focus once the new page has rendered: wait for it (a
    // bounded wait), then check where it went.
    await page
      .waitForFunction(() => document.activeElement && document.activeElement.id === 'page-title', null, { timeout: 5000 * SCALE })
      .catch(() => {});
    assert.equal(await page.evaluate(() => document.activeElement.id), 'page-title', 'focus moves to the new page');
    await shot(page, 'mobile');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await demo.stop();
  }
});

test('a client without users: operator with the warning banner, no admin actions', async () => {
  const demo = await new Demo({ files: true }).start();
  const page = await openPage(browser, demo);
  try {
    await page.getByLabel('Client').fill('open');
    await page.getByLabel('Username').fill('anyone');
    await page.getByLabel('Password').fill('anything');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('button', { name: 'Logout' }).waitFor();
    assert.match(await page.locator('.dbs-nav-user').innerText(), /open\/anyone \(operator\)/);
    await page.locator('.dbs-banner', { hasText: /user/i }).waitFor();
    const nav = page.getByRole('navigation', { name: 'main navigation' });
    for (const hidden of ['Users', 'Customizing', 'Export'])
      assert.equal(await nav.getByRole('link', { name: hidden, exact: true }).count(), 0, hidden);
    await go(page, 'Queue');
    await page.locator('tbody tr[data-id]').first().waitFor();
    assert.equal(await page.getByRole('button', { name: 'Purge completed' }).count(), 0);
    await page.locator('tbody tr[data-id] a').first().click();
    await page.getByRole('table', { name: 'Steps' }).waitFor();
    assert.equal(await page.locator('button.step-toggle').count(), 0, 'operators see statuses, not toggles');
    await shot(page, 'operator');
    assert.deepEqual(page.errors, []);
  } finally {
    await page.context().close();
    await demo.stop();
  }
});
