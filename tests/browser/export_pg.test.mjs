// export_pg.test.mjs — the Export section's PostgreSQL target in real
// Chromium against a real PostgreSQL 15 (Debian's, started in a temp dir on
// loopback as the `postgres` user): the form asks for that target's
// parameters only, a wrong user is refused with PostgreSQL's reason and
// nothing copied, a sync copy says what it copied (and the rows are in the
// schema), an async one is listed with its destination and ends done.
// Screenshot: web-export-postgres.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Demo, launch, openPage, login, go, shot, waitLive, waitFor, freePort } from './lib.mjs';

const PG_BIN = '/usr/lib/postgresql/15/bin';

// A throwaway cluster with trust authentication; null when this machine
// cannot run one (not root, no postgres user): the test says so.
async function startPostgres() {
  const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  if (process.getuid() !== 0 || id.status !== 0) return null;
  const dir = mkdtempSync(join(tmpdir(), 'dbs-pg-'));
  chmodSync(dir, 0o711);
  spawnSync('chown', ['postgres', dir]);
  const data = join(dir, 'data');
  const as = (args, opts = {}) => spawnSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8', ...opts });
  const r = as([`${PG_BIN}/initdb`, '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C'], { cwd: dir });
  assert.equal(r.status, 0, `initdb: ${r.stderr}`);
  const port = await freePort();
  const proc = spawn('runuser', ['-u', 'postgres', '--', `${PG_BIN}/postgres`, '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'], { stdio: 'ignore', cwd: dir });
  const sql = (q) => {
    const out = as([`${PG_BIN}/psql`, '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-At', '-c', q], { cwd: dir });
    if (out.status !== 0) throw new Error(out.stderr);
    return out.stdout.trim();
  };
  await waitFor(async () => as([`${PG_BIN}/pg_isready`, '-h', '127.0.0.1', '-p', String(port)], { cwd: dir }).status === 0, 30, 'PostgreSQL ready');
  return {
    port,
    sql,
    stop() {
      proc.kill('SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let browser;
let pg;
before(async () => {
  browser = await launch();
  pg = await startPostgres();
});
after(async () => {
  await browser?.close();
  pg?.stop();
});

test('export section: copy the store into a PostgreSQL database', async (t) => {
  if (pg === null) {
    t.skip('cannot start PostgreSQL here (needs root and the postgres user)');
    return;
  }
  const demo = await new Demo().start();
  const page = await openPage(browser, demo);
  try {
    await login(page, 'root');
    await waitLive(page);
    await go(page, 'Export');
    const expected = (await demo.api('POST', '/api/v1/export', { mode: 'sync' }, 'root')).passengers.length;
    assert.ok(expected > 0, 'the demo seated passengers');

    // The archive target asks for no database; PostgreSQL does.
    assert.equal(await page.locator('#exp-pg-host').count(), 0);
    await page.selectOption('#exp-target', 'postgres');
    for (const f of ['host', 'port', 'database', 'user', 'password', 'schema']) await page.locator(`#exp-pg-${f}`).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Hot copy of the store' }).count(), 0);
    await page.fill('#exp-pg-host', '127.0.0.1');
    await page.fill('#exp-pg-port', String(pg.port));
    await page.fill('#exp-pg-database', 'postgres');
    await page.fill('#exp-pg-schema', 'webexp');

    // A user PostgreSQL does not know: its reason, nothing copied.
    await page.fill('#exp-pg-user', 'nobody');
    await page.fill('#exp-pg-password', 'not-shown-1');
    await page.getByRole('button', { name: 'Sync export (copy now)' }).click();
    const error = page.getByRole('alert');
    await error.waitFor();
    const text = await error.innerText();
    assert.match(text, /PostgreSQL/);
    assert.ok(!text.includes('not-shown-1'), text);
    assert.equal(pg.sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'webexp'"), '0');

    await page.fill('#exp-pg-user', 'postgres');
    await page.fill('#exp-pg-password', '');
    await page.getByRole('button', { name: 'Sync export (copy now)' }).click();
    const note = page.getByText(/^Copied \d+ passengers/);
    await note.waitFor();
    // The demo goes on seating: at least what it had before.
    const copied = Number((await note.innerText()).match(/^Copied (\d+)/)[1]);
    assert.ok(copied >= expected, `${copied} < ${expected}`);
    assert.equal(pg.sql('SELECT count(*) FROM webexp.passengers'), String(copied));

    // Async: listed with its destination, done, nothing added twice.
    await page.getByRole('button', { name: 'Async export (background)' }).click();
    const row = page.locator('tr[data-export]', { hasText: `postgres: postgres@127.0.0.1:${pg.port}/postgres (webexp)` });
    await row.waitFor();
    await row.getByText('done').waitFor();
    assert.equal(await row.getByRole('link', { name: 'Download' }).count(), 0);
    // Only what was seated since went in: no passenger twice.
    assert.equal(pg.sql('SELECT count(*) FROM webexp.passengers'), pg.sql('SELECT count(DISTINCT dedup_key) FROM webexp.passengers'));
    assert.ok(Number(pg.sql('SELECT count(*) FROM webexp.passengers')) >= copied);
    await shot(page, 'export-postgres');
    assert.deepEqual(page.errors, []);
  } finally {
    await page.context().close();
    await demo.stop();
  }
});
