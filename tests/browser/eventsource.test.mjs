// A page's real EventSource follows a log across server-side closes: the
// server ends each stream after --sse-lifetime-ms (no `event: end`), the
// browser reconnects after the stream's `retry:` with Last-Event-ID, and the
// page ends up with every entry exactly once, then `event: end`.
//
//   cargo build && cd tests/browser && npm ci && node --test eventsource.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, eventually, launchBrowser, newOid, startServer } from './harness.mjs';

const TEST_TIMEOUT_MS = 60000;
/** Server-side closes the page must live through before the session ends. */
const RECONNECTS_MIN = 3;
/** Append rounds at most (each waits for the page to have them). */
const ROUNDS_MAX = 200;

let server;
let http;
let browser;

before(async () => {
  server = await startServer({ args: ['--sse-lifetime-ms', '400'] });
  http = api(server.url);
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('EventSource resumes with Last-Event-ID across server-side closes, every entry once', { timeout: TEST_TIMEOUT_MS }, async () => {
  const id = newOid();
  await http.create(id, { appname: 'eventsource', mode: 'test' });
  await http.appendText(id, 'line 0\nline 1\nline 2\n');
  let appended = 3;
  const page = await browser.context.newPage();
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(server.url + '/health');
  await page.evaluate((path) => {
    const seen = { cursors: [], messages: [], opens: 0, errors: 0, ended: null };
    window.seen = seen;
    // cursor=0 stays in the URL; only Last-Event-ID can move a reconnect on.
    const source = new EventSource(path);
    source.onopen = () => seen.opens++;
    source.onerror = () => seen.errors++;
    source.onmessage = (event) => {
      const page = JSON.parse(event.data);
      for (const entry of page.entries) {
        seen.cursors.push(entry.cursor);
        seen.messages.push(entry.message);
      }
      if (String(page.cursor) !== event.lastEventId) seen.badId = event.lastEventId;
    };
    source.addEventListener('end', (event) => {
      seen.ended = JSON.parse(event.data);
      source.close();
    });
  }, `/sessions/${id}/log?cursor=0`);
  const seen = () => page.evaluate(() => window.seen);
  for (let round = 0; round < ROUNDS_MAX && (await seen()).opens <= RECONNECTS_MIN; round++) {
    const lines = [0, 1, 2].map((k) => `line ${appended + k}\n`).join('');
    await http.appendText(id, lines);
    appended += 3;
    await eventually(async () => (await seen()).cursors.length >= appended, {
      timeout: 10000,
      message: `the page has ${appended} entries`,
    });
  }
  const before = await seen();
  assert.ok(before.opens > RECONNECTS_MIN, `reconnected ${before.opens - 1} times`);
  await http.end(id);
  const done = await eventually(async () => {
    const now = await seen();
    return now.ended ? now : false;
  }, { timeout: 10000, message: 'event: end reached the page' });
  const expected = Array.from({ length: appended }, (_, k) => k);
  assert.deepEqual(done.cursors, expected, 'every entry exactly once, in order');
  assert.deepEqual(done.messages, expected.map((k) => `line ${k}`));
  assert.equal(done.badId, undefined, 'lastEventId is the page cursor');
  assert.equal(done.ended.status, 'ended');
  assert.deepEqual(pageErrors, []);
  await page.close();
});
