// Writes docs/dashboard.png (1280x800): the real server with a few sessions
// and a busy log of mixed levels, shown in headless Chromium.
//
//   cargo build && cd tests/browser && npm ci && node screenshot.mjs [OUT.png] [--dark]
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { api, eventually, launchBrowser, newOid, REPO_ROOT, startServer } from './harness.mjs';

const argv = process.argv.slice(2);
const dark = argv.includes('--dark');
const out = path.resolve(argv.find((a) => !a.startsWith('--')) || path.join(REPO_ROOT, 'docs', 'dashboard.png'));

const server = await startServer();
const browser = await launchBrowser({ viewport: { width: 1280, height: 800 } });
try {
  const http = api(server.url);
  const editor = newOid();
  await http.create(editor, {
    appname: 'UnrealEditor',
    mode: 'interactive',
    jobid: null,
    metadata: { host: 'ws-lena', project: 'Lyra', changelist: 41235, plugins: ['GameFeatures', 'ModularGameplay'] },
  });
  const cook = newOid();
  await http.create(cook, {
    appname: 'UnrealEditor-Cmd',
    mode: 'cook',
    jobid: 'build-1234',
    metadata: { host: 'agent-07', platform: 'Linux', changelist: 41235, shards: { index: 2, count: 8 } },
  });
  const shaders = newOid();
  await http.create(shaders, { appname: 'ShaderCompileWorker', mode: 'batch', jobid: 'build-1234', metadata: { host: 'agent-07' } });
  const zen = newOid();
  await http.create(zen, { appname: 'zen', mode: 'cli', jobid: 'build-1233', metadata: { host: 'agent-03' } });
  await http.appendText(zen, 'zen oplog-import --project Lyra\nimported 18204 ops\n');
  await http.end(zen);
  await http.appendText(editor, 'LogInit: Display: Starting editor\nLogInit: Display: Project file loaded\n');

  const levels = ['info', 'info', 'debug', 'info', 'warn', 'info', 'debug', 'info', 'info', 'error'];
  const packages = ['/Game/Characters/Hero/SK_Hero', '/Game/Maps/L_Expanse', '/Game/UI/W_HUD', '/Game/Weapons/Rifle/BP_Rifle', '/Game/FX/NS_Muzzle'];
  const entries = [];
  for (let i = 0; i < 480; i += 1) {
    const level = levels[i % levels.length];
    const pkg = packages[i % packages.length];
    const message =
      level === 'warn' ? `LogCook: Warning: ${pkg} references a missing asset, using the default` :
      level === 'error' ? `LogShaderCompilers: Error: ${pkg}_Mat failed to compile for SM6 (retry 1 of 3)` :
      level === 'debug' ? `LogCook: Verbose: hashed ${pkg} in ${(i * 7) % 40 + 2} ms` :
      `LogCook: Display: Cooked ${pkg} (${1200 + i} of 18204)`;
    entries.push(i % 25 === 0 ? { level, message, data: { package: pkg, bytes: 40960 + i * 17 } } : { level, message });
  }
  await http.appendEntries(cook, entries);
  await http.appendEntries(shaders, entries.slice(0, 60));

  const page = await browser.context.newPage();
  if (dark) await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(`${server.url}/#session=${cook}`);
  await eventually(async () => (await page.getAttribute('#conn-state', 'data-state')) === 'live', { message: 'live' });
  await eventually(async () => /^482 entries|^480 entries/.test(await page.textContent('#log-count')), { message: 'log loaded' });
  await eventually(async () => (await page.$$('#sessions-body tr')).length >= 4, { message: 'table' });
  await page.selectOption('#status-select', 'all');
  await page.fill('#filter', '/Game/');
  await page.locator('#filter').blur();
  // Two frames so the last batch is painted.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  mkdirSync(path.dirname(out), { recursive: true });
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await server.stop();
}
