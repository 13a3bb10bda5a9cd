// lib.mjs — what every browser test shares: a throwaway databusd --demo on
// a free port in a temp dir, Debian's Chromium driven by playwright-core,
// login, screenshots (build/screenshots, or docs/img with
// DATABUS_SCREENSHOTS=docs/img), and polling with deadlines (the
// machine is shared: never assert on a fixed sleep).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');
export const build = resolve(repo, process.env.DATABUS_BUILD || 'build');
export const SCALE = Number(process.env.SCALE || process.env.DATABUS_TIMEOUT_SCALE || 1);
// Screenshots go under build/ so that a test run leaves the tree clean;
// DATABUS_SCREENSHOTS=docs/img refreshes the ones docs/web.md shows.
export const imgDir = resolve(repo, process.env.DATABUS_SCREENSHOTS || 'build/screenshots');

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll `fn` until it returns a truthy value; throws with `what` after
// `seconds` (scaled).
export async function waitFor(fn, seconds, what) {
  const end = Date.now() + seconds * 1000 * SCALE;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last ? ': ' + last.message : ''}`);
}

// The demo as configuration files of the test's own, plus a client
// "open" without users (open_access), for the tests that need one.
function writeDemoConfig(dir, port) {
  const w = (path, obj) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), JSON.stringify(obj, null, 2) + '\n');
  };
  mkdirSync(join(dir, 'out/outbox'), { recursive: true });
  mkdirSync(join(dir, 'out/invoices'), { recursive: true });
  w('databus.json', { data_dir: 'var', system_alias: 'DEMO', clients_dir: 'clients', web: { enabled: true, listen: `127.0.0.1:${port}` } });
  w('clients/demo.json', {
    log_life_span: 1,
    passengers: [
      {
        name: 'mails', sync_frequency: 1, queue_life_span: 1,
        pullers: [{ name: 'inbox', type: 'demo', kind: 'mail', per_drive: 3 }],
        processors: [{ name: 'only-xlsx', type: 'require_attachment', pattern: '*.xlsx' }],
        pushers: [{ name: 'outbox', type: 'dir', path: join(dir, 'out/outbox') }],
      },
      {
        name: 'invoices', sync_frequency: 1, queue_life_span: 1,
        pullers: [{ name: 'erp-export', type: 'demo', kind: 'invoice', per_drive: 2 }],
        pushers: [{ name: 'archive', type: 'dir', path: join(dir, 'out/invoices'), passenger_json: true }],
      },
    ],
    users: [{ username: 'demo', password: 'demo', role: 'administrator' }],
  });
  // A client without users that says open_access: any login gets in as
  // operator, with a warning.
  mkdirSync(join(dir, 'out/open'), { recursive: true });
  w('clients/open.json', {
    log_life_span: 1,
    open_access: true,
    passengers: [
      {
        name: 'feed', sync_frequency: 1, queue_life_span: 1,
        pullers: [{ name: 'erp-export', type: 'demo', kind: 'invoice', per_drive: 1 }],
        pushers: [{ name: 'archive', type: 'dir', path: join(dir, 'out/open') }],
      },
    ],
  });
  w('clients/root.json', { users: [{ username: 'root', password: 'root' }] });
  return join(dir, 'databus.json');
}

// A databusd --demo in its own temp dir, with its web on a free port
// (files: the same demo from configuration files; config: a function
// (dir, port) that writes a configuration of its own and returns its path).
export class Demo {
  constructor(opts = {}) {
    this.files = !!opts.files;
    this.config = opts.config;
  }

  async start() {
    this.dir = mkdtempSync(join(tmpdir(), 'dbs-browser-'));
    this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const args = this.config
      ? ['--config', this.config(this.dir, this.port)]
      : this.files
      ? ['--config', writeDemoConfig(this.dir, this.port)]
      : ['--demo', '--data', join(this.dir, 'var'), '--listen', `127.0.0.1:${this.port}`];
    this.proc = spawn(join(build, 'databusd'), args, {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.out = '';
    this.proc.stdout.on('data', (d) => (this.out += d));
    this.proc.stderr.on('data', (d) => (this.out += d));
    this.exited = new Promise((r) => this.proc.on('exit', (code, sig) => r({ code, sig })));
    await waitFor(async () => {
      if (this.proc.exitCode !== null) throw new Error('databusd exited: ' + this.out);
      const r = await fetch(this.url + '/readyz');
      return r.status === 200;
    }, 30, 'databusd --demo and its web to be ready');
    // The demo's first drives seat a few passengers.
    await waitFor(async () => (await this.api('GET', '/api/v1/queue?limit=1', null, 'root')).items.length > 0, 30, 'the demo passengers');
    return this;
  }

  // A logged-in API call with a session of its own, for checks.
  async api(method, path, body, as = 'root') {
    if (!this.cookies) this.cookies = {};
    if (!this.cookies[as]) {
      const cred = as === 'root' ? ['root', 'root', 'root'] : ['demo', 'demo', 'demo'];
      const r = await fetch(this.url + '/api/v1/login', {
        method: 'POST',
        headers: { Origin: this.url, 'Content-Type': 'application/json' },
        body: JSON.stringify({ client: cred[0], username: cred[1], password: cred[2] }),
      });
      if (r.status !== 200) throw new Error('login failed: ' + r.status);
      this.cookies[as] = r.headers.get('set-cookie').split(';')[0];
    }
    const headers = { Cookie: this.cookies[as] };
    if (method !== 'GET') {
      headers.Origin = this.url;
      headers['Content-Type'] = 'application/json';
    }
    const r = await fetch(this.url + path, { method, headers, body: method === 'GET' ? undefined : JSON.stringify(body || {}) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 30000);
      await this.exited;
      clearTimeout(t);
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
}

// A fresh browser context and page on `demo`; collects page errors and
// CSP violations (the app must not need any inline script or style).
export async function openPage(browser, demo) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) page.errors.push(m.text());
  });
  page.setDefaultTimeout(15000 * SCALE);
  await page.goto(demo.url + '/');
  return page;
}

export const ACCOUNTS = {
  demo: { client: 'demo', username: 'demo', password: 'demo' },
  root: { client: 'root', username: 'root', password: 'root' },
};

export async function login(page, who) {
  const a = ACCOUNTS[who];
  await page.getByLabel('Client').fill(a.client);
  await page.getByLabel('Username').fill(a.username);
  await page.getByLabel('Password').fill(a.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Logout' }).waitFor();
}

export async function go(page, section) {
  await page.getByRole('navigation', { name: 'main navigation' }).getByRole('link', { name: section, exact: true }).click();
  await page.locator('#page-title').waitFor();
}

export async function shot(page, name) {
  mkdirSync(imgDir, { recursive: true });
  await page.screenshot({ path: join(imgDir, `web-${name}.png`), fullPage: false });
}

// Wait for the app's live socket (the badge in the top bar says "live").
export async function waitLive(page) {
  await page.locator('.dbs-live .tag', { hasText: 'live' }).waitFor({ timeout: 10000 * SCALE });
}

// The whole text of the page's CodeMirror editor (in the shadow root of
// .dbs-editor, see webui/app/src/editor.jsx). CodeMirror draws only
// the lines in view, so the text is read from its state: EditorView's
// findFromDOM, done by hand since the page does not export the class (the
// content element's tile, cmTile, or cmView before CodeMirror 6.38).
export function editorText(page) {
  return page.evaluate(() => {
    const host = document.querySelector('.dbs-editor');
    const el = host && host.shadowRoot && host.shadowRoot.querySelector('.cm-content');
    const t = el && (el.cmTile || el.cmView);
    const view = t && ((t.root && t.root.view) || t.view);
    return view ? view.state.doc.toString() : null;
  });
}

// Replace the whole text of the page's CodeMirror editor, as one change
// (typing a whole file key by key would take long; keyboard input into the
// editor is tested on its own in editor.test.mjs).
export function setEditorText(page, text) {
  return page.evaluate((t) => {
    const el = document.querySelector('.dbs-editor').shadowRoot.querySelector('.cm-content');
    const tile = el.cmTile || el.cmView;
    const view = (tile.root && tile.root.view) || tile.view;
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: t } });
  }, text);
}
