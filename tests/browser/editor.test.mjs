// editor.test.mjs — the Customizing editor in real Chromium on a
// databusd --demo: CodeMirror with JSON syntax highlighting and folding,
// a syntax marker while typing, databusd's validation error marked at the
// JSON path it names, and a diff that shows hunks, not the whole file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Demo, launch, openPage, login, go, shot, waitFor, waitLive, editorText, setEditorText } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('Customizing: JSON editor with folding, lint markers at the reported path, hunk diff', async () => {
  const demo = await new Demo().start();
  const page = await openPage(browser, demo);
  page.on('dialog', (d) => d.accept());
  try {
    await login(page, 'demo');
    await waitLive(page);
    await go(page, 'Customizing');
    await page.locator('button[data-node="demo"]').click();
    const editor = page.getByLabel('demo configuration');
    await editor.waitFor();
    const original = (await demo.api('GET', '/api/v1/config/demo', null, 'demo')).content;
    await waitFor(async () => (await editorText(page)) === original, 10, 'the node in the editor');
    const shadow = page.locator('.dbs-editor');

    // JSON syntax: numbers and string values are highlighted, apart.
    const classes = new Set(await shadow.locator('.cm-line span[class]').evaluateAll((els) => els.map((e) => e.className)));
    assert.ok(classes.size >= 2, [...classes].join(' '));

    // Real typing: a stray character is a syntax error, marked at once.
    await shadow.locator('.cm-line').first().click();
    await page.keyboard.press('Home');
    await page.keyboard.press('x');
    await waitFor(async () => (await editorText(page)) === 'x' + original, 5, 'the typed character');
    await shadow.locator('.cm-lint-marker-error').waitFor();
    await page.keyboard.press('Backspace');
    await waitFor(async () => (await shadow.locator('.cm-lint-marker-error').count()) === 0, 5, 'the syntax marker to go');
    assert.equal(await editorText(page), original);

    // databusd's error names a JSON path: the marker sits there.
    const bad = original.replace('"sync_frequency": 1', '"sync_frequency": -5');
    assert.notEqual(bad, original);
    await setEditorText(page, bad);
    await page.getByRole('button', { name: 'Validate' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /\$\.passengers\[0\]\.sync_frequency/);
    const range = shadow.locator('.cm-lintRange-error');
    await range.waitFor();
    assert.equal(await range.innerText(), '"sync_frequency": -5');
    await shadow.locator('.cm-lint-marker-error').waitFor();
    // The Save of it is refused the same way; nothing changes.
    await page.getByRole('button', { name: 'Save' }).click();
    await waitFor(async () => (await demo.api('GET', '/api/v1/config/demo', null, 'demo')).content === original, 5, 'the file unchanged');

    // The diff of the edit is one hunk of 7 lines, not the file.
    const diff = page.getByLabel('Differences');
    await diff.waitFor();
    const heads = await diff.locator('.dbs-hunk-head').allInnerTexts();
    assert.equal(heads.length, 1, heads.join(' | '));
    const at = bad.split('\n').findIndex((l) => l.includes('-5')) + 1;
    assert.match(heads[0], new RegExp(`^@@ −${at - 3},7 \\+${at - 3},7 @@$`));
    assert.equal(await diff.locator('.dbs-diff-del').count(), 1);
    assert.equal(await diff.locator('.dbs-diff-add').count(), 1);
    await shot(page, 'customizing-editor');

    // Folding: fold the passengers array from the gutter.
    await page.getByRole('button', { name: 'Discard changes' }).click();
    await waitFor(async () => (await editorText(page)) === original, 5, 'the discarded edit');
    const lines = await shadow.locator('.cm-line').count();
    await shadow.locator('.cm-foldGutter .cm-gutterElement').nth(2).locator('span').click();
    await shadow.locator('.cm-foldPlaceholder').waitFor();
    assert.ok((await shadow.locator('.cm-line').count()) < lines, 'fewer lines shown once folded');
    assert.deepEqual(page.errors, []);
  } finally {
    await page.context().close();
    await demo.stop();
  }
});
