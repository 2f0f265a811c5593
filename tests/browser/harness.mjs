// What the dashboard tests and the screenshot script share: starting the real
// sessions-lite binary on a free port, launching Debian's Chromium through
// playwright-core, small HTTP helpers and a polling `eventually` with a deadline.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The server binary: $SESSIONS_LITE_BIN, relative paths taken from the repo root. */
export const SERVER_BIN = path.resolve(REPO_ROOT, process.env.SESSIONS_LITE_BIN || 'target/debug/sessions-lite');

export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const SERVER_START_TIMEOUT_MS = 10000;
const SERVER_STOP_TIMEOUT_MS = 3000;

/**
 * Starts the server on 127.0.0.1:`port` (0 = a free one) and resolves once it
 * printed `listening on http://ADDR`. Its output keeps being read (so a chatty
 * server never blocks on a full pipe); the last lines are kept for failures.
 */
export function startServer({ port = 0, args = [] } = {}) {
  const argv = ['--listen', `127.0.0.1:${port}`, '--ws-interval-ms', '100', ...args];
  // For work on the dashboard: serve www/ from disk instead of the built-in copy.
  if (process.env.SESSIONS_LITE_WWW) argv.push('--www', path.resolve(REPO_ROOT, process.env.SESSIONS_LITE_WWW));
  const proc = spawn(SERVER_BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  const keep = (line) => {
    output.push(line);
    if (output.length > 200) output.shift();
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (why) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(new Error(`${why}\n  binary: ${SERVER_BIN} ${argv.join(' ')}\n  output:\n    ${output.join('\n    ')}`));
    };
    const timer = setTimeout(() => fail(`no "listening on" line within ${SERVER_START_TIMEOUT_MS} ms`), SERVER_START_TIMEOUT_MS);
    proc.on('error', (err) => fail(`cannot start the server: ${err.message}`));
    proc.on('exit', (code, signal) => fail(`server exited (code ${code}, signal ${signal}) before listening`));
    readline.createInterface({ input: proc.stderr }).on('line', (line) => keep('stderr: ' + line));
    const lines = readline.createInterface({ input: proc.stdout });
    let first = true;
    lines.on('line', (line) => {
      keep(line);
      if (!first) return;
      first = false;
      const m = /^listening on (http:\/\/(\S+):(\d+))\s*$/.exec(line);
      if (!m) return fail(`first stdout line is not "listening on http://ADDR": ${JSON.stringify(line)}`);
      settled = true;
      clearTimeout(timer);
      const server = {
        proc,
        pid: proc.pid,
        url: m[1],
        port: Number(m[3]),
        output,
        stop: () => stopProcess(proc),
      };
      resolve(server);
    });
  });
}

/** SIGTERM, then SIGKILL if it is still there after a while; resolves on exit. */
export function stopProcess(proc, signal = 'SIGTERM') {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), SERVER_STOP_TIMEOUT_MS);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill(signal);
  });
}

/** Chromium with a fresh temporary profile; close() also removes the profile. */
export async function launchBrowser({ viewport = { width: 1280, height: 800 } } = {}) {
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'sessions-lite-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_BIN,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    acceptDownloads: true,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Calls `check` until it neither throws nor returns false, or the deadline passes. */
export async function eventually(check, { timeout = 5000, interval = 25, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value !== false) return value;
      last = new Error('returned false');
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const error = new Error(`${message}: not true within ${timeout} ms: ${last && last.message}`);
      error.cause = last;
      throw error;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** A new random session id (OID: 24 lowercase hex digits). */
export function newOid() {
  return randomBytes(12).toString('hex');
}

/** HTTP calls against one server (no Origin header, as curl and build agents send). */
export function api(baseUrl) {
  async function call(method, pathname, { body, type } = {}) {
    const headers = {};
    if (type) headers['content-type'] = type;
    const res = await fetch(baseUrl + pathname, { method, headers, body });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch (_) {
      // not JSON: keep the text
    }
    if (!res.ok) throw new Error(`${method} ${pathname} -> ${res.status} ${text.slice(0, 200)}`);
    return { status: res.status, headers: res.headers, json, text };
  }
  return {
    call,
    create: (id, fields) => call('POST', `/sessions/${id}`, { body: JSON.stringify(fields), type: 'application/json' }).then((r) => r.json),
    end: (id) => call('DELETE', `/sessions/${id}`).then((r) => r.json),
    list: (status = 'all') => call('GET', `/sessions/?status=${status}`).then((r) => r.json),
    appendText: (id, text) => call('POST', `/sessions/${id}/log`, { body: text, type: 'text/plain' }).then((r) => r.json),
    appendEntries: (id, entries) =>
      call('POST', `/sessions/${id}/log`, { body: JSON.stringify({ entries }), type: 'application/json' }).then((r) => r.json),
  };
}
