// attachments.test.mjs — an e-mail attachment (.eml) is shown as headers,
// text body and parts, and a PDF says plainly why it is not shown and
// offers its download; in real Chromium, on a databusd whose dir puller
// takes a multipart message and a PDF.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { Demo, launch, openPage, login, shot, waitLive } from './lib.mjs';

const EML = [
  'From: "Ann Example" <ann@example.com>',
  'To: orders@acme.example',
  'Subject: Order 17 =?UTF-8?Q?=E2=80=94_please_confirm?=',
  'Date: Tue, 03 Mar 2026 10:00:00 +0000',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="b1"',
  '',
  '--b1',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Hello, please find the order attached. Gr=C3=BC=C3=9Fe, Ann',
  '--b1',
  'Content-Type: text/csv; name="order-17.csv"',
  'Content-Disposition: attachment; filename="order-17.csv"',
  'Content-Transfer-Encoding: base64',
  '',
  Buffer.from('item,qty\npaper,5\n').toString('base64'),
  '--b1--',
  '',
].join('\r\n');

const PDF = '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n';

function withFiles(dir, port) {
  const w = (path, obj) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), JSON.stringify(obj, null, 2) + '\n');
  };
  mkdirSync(join(dir, 'in'), { recursive: true });
  writeFileSync(join(dir, 'in/order-17.eml'), EML);
  writeFileSync(join(dir, 'in/report.pdf'), PDF);
  w('databus.json', { data_dir: 'var', system_alias: 'FILES', clients_dir: 'clients', web: { enabled: true, listen: `127.0.0.1:${port}` } });
  w('clients/demo.json', {
    passengers: [{ name: 'files', sync_frequency: 1, pullers: [{ name: 'inbox', type: 'dir', path: join(dir, 'in') }], pushers: [{ name: 'n', type: 'null' }] }],
    users: [{ username: 'demo', password: 'demo', role: 'administrator' }],
  });
  w('clients/root.json', { users: [{ username: 'root', password: 'root' }] });
  return join(dir, 'databus.json');
}

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('an .eml shows headers, text and parts; a PDF offers a clear download', async () => {
  const demo = await new Demo({ config: withFiles }).start();
  const page = await openPage(browser, demo);
  try {
    await login(page, 'demo');
    await waitLive(page);
    const items = (await demo.api('GET', '/api/v1/queue?client=demo', null, 'demo')).items;
    const byName = (n) => items.find((p) => p.attachments?.some((a) => a.name === n)) || items.find((p) => p.metadata?.filename === n);
    const eml = byName('order-17.eml');
    const pdf = byName('report.pdf');
    assert.ok(eml && pdf, JSON.stringify(items));

    await page.goto(`${demo.url}/queue/demo/${eml.id}`);
    const att = page.locator('li[data-attachment="order-17.eml"]');
    await att.getByRole('button', { name: 'View' }).click();
    const mail = att.getByLabel('E-mail');
    await mail.waitFor();
    const headers = await mail.locator('.email-headers').innerText();
    assert.match(headers, /From\s+Ann Example <ann@example\.com>/);
    assert.match(headers, /To\s+orders@acme\.example/);
    assert.match(headers, /Subject\s+Order 17 — please confirm/);
    assert.match(await mail.locator('.email-body').innerText(), /please find the order attached\. Grüße, Ann/);
    const part = mail.locator('li[data-part="order-17.csv"]');
    assert.match(await part.innerText(), /text\/csv/);
    const [dl] = await Promise.all([page.waitForEvent('download'), part.getByRole('link', { name: 'Download part' }).click()]);
    assert.equal(dl.suggestedFilename(), 'order-17.csv');
    assert.equal(readFileSync(await dl.path(), 'utf8'), 'item,qty\npaper,5\n');
    await shot(page, 'attachment-eml');

    await page.goto(`${demo.url}/queue/demo/${pdf.id}`);
    const patt = page.locator('li[data-attachment="report.pdf"]');
    await patt.getByRole('button', { name: 'View' }).click();
    const note = patt.locator('.pdf-note');
    await note.waitFor();
    assert.match(await note.innerText(), /not shown inside Databus.*sandbox/s);
    const [pdl] = await Promise.all([page.waitForEvent('download'), note.getByRole('link', { name: 'Download report.pdf' }).click()]);
    assert.equal(readFileSync(await pdl.path(), 'latin1'), PDF);
    assert.deepEqual(page.errors, []);
  } finally {
    await page.context().close();
    await demo.stop();
  }
});
