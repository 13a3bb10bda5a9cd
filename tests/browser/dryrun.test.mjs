// dryrun.test.mjs — the "Dry run" buttons of the Passengers page (sample
// files chosen in the browser) and of a passenger's page (that passenger):
// the steps, attachments and log of the throwaway run are shown, and
// nothing in the queue changes; in real Chromium on databusd --demo, whose
// "mails" definition lets only passengers with an .xlsx attachment
// through (require_attachment).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Demo, launch, openPage, login, go, shot, waitLive } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('dry runs from the Passengers page and from a passenger', async () => {
  const demo = await new Demo().start();
  const page = await openPage(browser, demo);
  try {
    await login(page, 'demo');
    await waitLive(page);
    const before = await demo.api('GET', '/api/v1/queue?client=demo&passenger=mails&limit=1', null, 'demo');
    const p = before.items[0];
    assert.ok(p, 'a demo passenger');

    // Samples: an .xlsx goes through; a .txt alone is filtered out.
    await go(page, 'Passengers');
    await page.getByRole('button', { name: 'Dry run demo/mails' }).click();
    const panel = page.locator('#dry-run-panel');
    await panel.waitFor();
    await panel.locator('#dry-run-files').setInputFiles([
      { name: 'sheet.xlsx', mimeType: 'application/octet-stream', buffer: Buffer.from('PK\x03\x04 not really') },
      { name: 'note.txt', mimeType: 'text/plain', buffer: Buffer.from('hello <b>dry</b> run\n') },
    ]);
    await panel.getByRole('button', { name: 'Run' }).click();
    const outcome = panel.locator('#dry-run-outcome');
    await outcome.waitFor();
    assert.match(await outcome.innerText(), /Dry run: ok/);
    const step = panel.locator('tr[data-dry-step="only-xlsx"]');
    assert.match(await step.innerText(), /complete/);
    assert.match(await panel.locator('tr[data-dry-step="outbox"]').innerText(), /skipped.*would be pushed/s);
    // Text is shown as text, never as markup.
    assert.equal(await panel.locator('[data-dry-attachment="note.txt"] pre').innerText(), 'hello <b>dry</b> run\n');
    assert.equal(await panel.locator('[data-dry-attachment="note.txt"] b').count(), 0);
    assert.match(await panel.locator('[data-dry-attachment="sheet.xlsx"]').innerText(), /not shown/);
    await shot(page, 'dry-run');

    await panel.locator('#dry-run-files').setInputFiles([{ name: 'only.txt', mimeType: 'text/plain', buffer: Buffer.from('x') }]);
    await panel.getByRole('button', { name: 'Run' }).click();
    await page.waitForFunction(() => /skipped/.test(document.querySelector('#dry-run-outcome')?.innerText || ''));
    assert.match(await panel.locator('tr[data-dry-step="outbox"]').innerText(), /filtered out/);
    assert.match(await panel.locator('#dry-run-log').innerText(), /only-xlsx/);

    // A queued passenger, from its own page.
    await page.goto(`${demo.url}/queue/demo/${p.id}`);
    await page.getByRole('button', { name: 'Dry run this passenger' }).click();
    const own = page.locator('#dry-run-panel');
    assert.match(await own.locator('h2').innerText(), new RegExp(`passenger #${p.id}`));
    await own.getByRole('button', { name: 'Run' }).click();
    await own.locator('#dry-run-outcome').waitFor();
    assert.match(await own.locator('#dry-run-outcome').innerText(), /Dry run: (ok|skipped)/);
    assert.ok((await own.locator('[data-dry-attachment]').count()) >= 1);

    // Nothing changed for that passenger.
    const after = await demo.api('GET', `/api/v1/queue/demo/${p.id}`, null, 'demo');
    assert.equal(after.passenger.state, p.state);
    assert.equal(after.passenger.attempts, p.attempts);
    assert.deepEqual(
      after.passenger.steps.map((s) => [s.name, s.state, s.attempts]),
      p.steps.map((s) => [s.name, s.state, s.attempts]),
    );
    assert.deepEqual(page.errors, []);
  } finally {
    await page.context().close();
    await demo.stop();
  }
});
