// import.test.mjs — root's import of an archive in the Export section, in
// real Chromium: the file goes up, the preview says what would be added
// and remapped while nothing is written, "Import now" imports it, and the
// same archive again would add nothing; a damaged archive shows the
// server's reason. Screenshot: web-import.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Demo, launch, openPage, login, go, shot, waitLive } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const count = (page, label) => page.locator(`[data-import-report] td[data-count="${label}"]`).innerText();

test('export section: import an archive with a preview first', async () => {
  const demo = await new Demo().start();
  const dir = mkdtempSync(join(tmpdir(), 'dbs-import-'));
  const page = await openPage(browser, demo);
  try {
    // An archive of demo's passengers under new external ids: new dedup
    // keys, whose ids the store has handed out already (remapped).
    const arch = await demo.api('POST', '/api/v1/export', { client: 'demo', mode: 'sync' });
    arch.passengers = arch.passengers.map((p) => ({ ...p, external_id: 'imp-' + p.external_id }));
    const n = arch.passengers.length;
    assert.ok(n > 0, 'the demo seated passengers');
    const good = join(dir, 'archive.json');
    writeFileSync(good, JSON.stringify(arch));
    const bad = join(dir, 'damaged.json');
    writeFileSync(bad, JSON.stringify(arch).slice(0, 200));
    const imported = async () => (await demo.api('GET', '/api/v1/queue?client=demo&q=imp-&limit=500')).items.length;

    await login(page, 'root');
    await waitLive(page);
    await go(page, 'Export');
    const box = page.locator('[data-section="import"]');

    await page.setInputFiles('#imp-file', bad);
    await box.getByRole('button', { name: 'Upload and preview' }).click();
    await box.locator('[data-import-error]').waitFor();
    assert.match(await box.locator('[data-import-error]').innerText(), /does not parse|cut|damaged/);

    await page.setInputFiles('#imp-file', good);
    await box.getByRole('button', { name: 'Upload and preview' }).click();
    await box.locator('[data-import-report="preview"]').waitFor();
    assert.equal(await count(page, 'Would be added'), String(n));
    assert.equal(await count(page, 'Would get a new id'), String(n));
    assert.equal(await imported(), 0, 'the preview wrote nothing');
    await box.scrollIntoViewIfNeeded();
    await shot(page, 'import');

    await box.getByRole('button', { name: 'Import now' }).click();
    await box.locator('[data-import-report="done"]').waitFor();
    assert.equal(await count(page, 'Added'), String(n));
    assert.equal(await imported(), n);

    // Again: every passenger is already there.
    await box.getByRole('button', { name: 'Upload and preview' }).click();
    await box.locator('[data-import-report="preview"]').waitFor();
    assert.equal(await count(page, 'Would be added'), '0');
    assert.equal(await count(page, 'Skipped (already in the store)'), String(n));
    await box.getByRole('button', { name: 'Cancel' }).click();
    await box.getByText('nothing was written').waitFor();
    assert.equal(await imported(), n);
    assert.deepEqual(page.errors, [], 'page errors or CSP violations');
  } finally {
    await page.context().close();
    await demo.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
