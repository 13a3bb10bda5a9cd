// layout.test.mjs — the web UI on a phone (390 px wide) and on a laptop
// (1280 px), in real Chromium: nothing is cut off or pushed off-screen.
// The queue table becomes one labelled card per passenger on a phone (its
// External id, State and Steps visible), and the top bar holds a system
// alias and a user name of the longest allowed lengths without overflowing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { Demo, launch, shot, waitFor, waitLive, SCALE } from './lib.mjs';

const ALIAS = 'ACME-CORPORATION-INTEGRATION-BUS-FOR-EVERY-REGIONAL-OFFICES-2026'; // 64
const USER = 'maximiliane.oberhuber-schwarzenberg@accounting.example-corps.com'; // 64
const PASSWORD = 'long-user-pw-1';

let browser;
let demo;
before(async () => {
  assert.equal(ALIAS.length, 64);
  assert.equal(USER.length, 64);
  browser = await launch();
  demo = await new Demo({ config: longNames }).start();
});
after(async () => {
  await browser?.close();
  await demo?.stop();
});

// The demo's mails, with the longest alias and user name there may be.
function longNames(dir, port) {
  const w = (path, obj) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), JSON.stringify(obj, null, 2) + '\n');
  };
  mkdirSync(join(dir, 'out'), { recursive: true });
  w('databus.json', { data_dir: 'var', system_alias: ALIAS, clients_dir: 'clients', web: { enabled: true, listen: `127.0.0.1:${port}` } });
  w('clients/demo.json', {
    passengers: [{ name: 'mails', sync_frequency: 1, pullers: [{ name: 'inbox', type: 'demo', kind: 'mail', per_drive: 3 }], processors: [{ name: 'only-xlsx', type: 'require_attachment', pattern: '*.xlsx' }], pushers: [{ name: 'outbox', type: 'dir', path: join(dir, 'out') }] }],
    users: [{ username: USER, password: PASSWORD, role: 'administrator' }],
  });
  w('clients/root.json', { users: [{ username: 'root', password: 'root' }] });
  return join(dir, 'databus.json');
}

async function openAt(width) {
  const context = await browser.newContext({ viewport: { width, height: 800 } });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.setDefaultTimeout(15000 * SCALE);
  await page.goto(demo.url + '/');
  await page.getByLabel('Client').fill('demo');
  await page.getByLabel('Username').fill(USER);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('.navbar-brand').waitFor();
  await waitLive(page).catch(() => {}); // on a phone the badge is in the folded menu
  return page;
}

// Nothing wider than the screen: no horizontal scrolling of the page.
async function noOverflow(page, width) {
  const sw = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(sw <= width, `the page is ${sw} px wide on a ${width} px screen`);
}

// `loc` is visible and lies within the screen's width.
async function onScreen(loc, width, what) {
  assert.ok(await loc.isVisible(), `${what} is visible`);
  const b = await loc.boundingBox();
  assert.ok(b && b.x >= 0 && b.x + b.width <= width + 0.5, `${what} within ${width} px: ${JSON.stringify(b)}`);
}

for (const width of [390, 1280]) {
  test(`${width} px: the queue shows External id, State and Steps on screen`, async () => {
    const page = await openAt(width);
    try {
      await page.goto(demo.url + '/queue');
      const row = page.locator('tbody tr[data-id]').first();
      await row.waitFor();
      await waitFor(async () => (await row.locator('.q-steps .tag').count()) > 0, 10, 'the steps of a row');
      for (const [cls, what] of [['.q-ext', 'External id'], ['.q-state', 'State'], ['.q-steps', 'Steps']]) {
        await onScreen(row.locator(cls), width, what);
        // Labelled on a phone (the header row is hidden there).
        if (width === 390) assert.equal(await row.locator(cls).getAttribute('data-label'), what);
      }
      assert.equal(await page.locator('table[aria-label="Queue"] thead').isVisible(), width > 768);
      await noOverflow(page, width);
      if (width === 390) await shot(page, 'mobile-queue');
      assert.deepEqual(page.errors, []);
    } finally {
      await page.context().close();
    }
  });

  test(`${width} px: a long alias and user name do not overflow the top bar`, async () => {
    const page = await openAt(width);
    try {
      await page.goto(demo.url + '/about');
      await page.locator('#page-title').waitFor();
      const brand = page.locator('.dbs-brand');
      await waitFor(async () => (await brand.getAttribute('title')) === ALIAS, 10, 'the system alias in the top bar');
      await onScreen(brand, width, 'the alias');
      if (width === 390) {
        const burger = page.getByRole('button', { name: 'menu' });
        await onScreen(burger, width, 'the menu button');
        await burger.click();
      }
      const user = page.locator('.dbs-nav-user');
      assert.match(await user.getAttribute('title'), new RegExp(`demo/${USER.replace(/[.+]/g, '\\$&')} \\(administrator\\)`));
      await onScreen(user, width, 'the user name');
      await onScreen(page.getByRole('button', { name: 'Logout' }), width, 'Logout');
      await noOverflow(page, width);
      if (width === 1280) await shot(page, 'topbar-long-names');
      assert.deepEqual(page.errors, []);
    } finally {
      await page.context().close();
    }
  });
}
