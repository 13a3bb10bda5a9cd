// quota.test.mjs — a client whose intake a quota pauses is named in a
// banner, with the quota and its usage, in real Chromium; the banner goes
// by itself when the client is back under its quota (issue 18, part 2).
//
// `acme` has max_pending 1 and a definition whose pushes always fail, so
// its two passengers stay pending and its intake pauses at once; `calm`
// has no quota trouble and must never be named. Marking acme's pushes
// complete (the queue-item API) brings it under max_pending.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Demo, launch, openPage, login, waitFor, waitLive, shot } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

function writeConfig(dir, port) {
  const w = (path, obj) => {
    mkdirSync(join(dir, 'clients'), { recursive: true });
    writeFileSync(join(dir, path), JSON.stringify(obj, null, 2) + '\n');
  };
  const def = (fail) => ({
    name: 'feed', sync_frequency: 1440, queue_life_span: 1,
    pullers: [{ name: 'bench', type: 'bench', count: 2, size: 64, prefix: 'b', per_drive: 2 }],
    pushers: [fail ? { name: 'out', type: 'null', fail_every: 1 } : { name: 'out', type: 'null' }],
    retry: { max_attempts: 1000, backoff: '60s' },
  });
  w('databus.json', {
    data_dir: 'var', system_alias: 'QUOTA', clients_dir: 'clients',
    web: { enabled: true, listen: `127.0.0.1:${port}` },
    quotas: { default: { max_pending: 100 }, clients: { acme: { max_pending: 1 } } },
  });
  w('clients/acme.json', { log_life_span: 1, passengers: [def(true)], users: [] });
  w('clients/calm.json', { log_life_span: 1, passengers: [def(false)], users: [] });
  w('clients/root.json', { users: [{ username: 'root', password: 'root' }] });
  return join(dir, 'databus.json');
}

test('a client over its quota is named in a banner that goes when it is back under', async () => {
  let demo = null;
  let page = null;
  try {
    demo = await new Demo({ config: writeConfig }).start();
    await waitFor(async () => {
      const q = (await demo.api('GET', '/api/v1/passengers', null, 'root')).quotas;
      return q.find((x) => x.client === 'acme')?.hit === 'max_pending';
    }, 30, 'acme over max_pending');
    page = await openPage(browser, demo);
    await login(page, 'root');
    await waitLive(page);
    const banner = page.locator('.dbs-banner', { hasText: 'Intake of client acme is paused' });
    await banner.waitFor();
    const text = await banner.innerText();
    assert.match(text, /over its max_pending \(2 of 1 passengers pending\)/);
    assert.equal(await page.locator('.dbs-banner', { hasText: 'client calm' }).count(), 0);
    await shot(page, 'quota-banner');

    const items = (await demo.api('GET', '/api/v1/queue?client=acme', null, 'root')).items;
    assert.equal(items.length, 2);
    for (const p of items) {
      await demo.api('POST', `/api/v1/queue/acme/${p.id}/steps`, { step: 'out', complete: true }, 'root');
    }
    await waitFor(async () => (await banner.count()) === 0, 15, 'the banner to go once acme is under max_pending');
    assert.deepEqual(page.errors, [], 'page errors or CSP violations');
  } finally {
    await page?.context().close();
    if (demo) await demo.stop();
  }
});
