// The web console in a real browser against a live worker:
//   node console.test.mjs LOCKSTEP_BIN OUT_DIR
// Starts the development broker and `lockstep run` (admin listener with a read
// and a write token) on a fresh PostgreSQL database, makes a version conflict
// and a dead letter whose payload carries HTML, then drives headless Chromium
// (Debian's /usr/bin/chromium through playwright-core) through the console.
// Screenshots go to OUT_DIR, and to docs/img/ with LOCKSTEP_UPDATE_SCREENSHOTS=1.
// Exit 0 pass, 1 fail, 77 skipped (no browser, node_modules or database; under
// CI=true those fail instead).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {log, check, until, start, firstLine, run, stopAll, onCleanup, freePort, createDatabase, apiCall,
  TestFailure} from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const CHROMIUM = process.env.LOCKSTEP_CHROMIUM || '/usr/bin/chromium';
const READ_TOKEN = 'console-test-read-token-5d1c';
const WRITE_TOKEN = 'console-test-write-token-9e7a';
const XSS_SCRIPT = '<script>window.__xss=1</script>';
const XSS_IMG = '"><img src=x onerror="window.__xss=2">';
const XSS_ID = 'guild-x/<img src=x onerror="window.__xss=3">';
const SHOTS = ['list', 'conflict', 'aggregate', 'status'];

function skip(why) {
  const ci = process.env.CI === 'true' || process.env.CI === '1';
  console.log((ci ? 'FAIL (CI=true: no skipping): ' : 'SKIP: ') + why);
  process.exit(ci ? 1 : 77);
}

const [bin, outArg] = process.argv.slice(2);
if (!bin || !fs.existsSync(bin)) {
  console.log('usage: node console.test.mjs LOCKSTEP_BIN OUT_DIR (binary not found: ' + bin + ')');
  process.exit(1);
}
if (!fs.existsSync(CHROMIUM)) skip('no Chromium at ' + CHROMIUM + ' (apt-get install chromium)');
let chromium;
try {
  ({chromium} = await import('playwright-core'));
} catch (e) {
  skip('playwright-core is not installed (npm ci --prefix tests/console): ' + e.message);
}
const baseDbUrl = process.env.LOCKSTEP_TEST_DATABASE_URL;
if (!baseDbUrl) skip('LOCKSTEP_TEST_DATABASE_URL is not set: run it through scripts/test');

const out = path.resolve(outArg || path.join(os.tmpdir(), 'lockstep-console-test'));
fs.mkdirSync(out, {recursive: true});
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-console.'));
onCleanup(() => fs.rmSync(dir, {recursive: true, force: true}));

// ---- the worker ----------------------------------------------------------

async function startWorker() {
  const dbUrl = createDatabase(baseDbUrl);
  const adminPort = await freePort();
  const config = path.join(dir, 'lockstep.yaml');
  fs.writeFileSync(config, [
    'kafka:',
    '  group_id: console-test',
    'metrics:',
    '  listen: 127.0.0.1:0',
    'admin:',
    '  listen: 127.0.0.1:' + adminPort,
    '  tokens:',
    '    viewer: {role: read, token: ' + READ_TOKEN + '}',
    '    operator: {role: write, token: ' + WRITE_TOKEN + '}',
    ''].join('\n'));
  const env = Object.assign({}, process.env, {LOCKSTEP_CONFIG: config, LOCKSTEP_DATABASE_URL: dbUrl,
    LOCKSTEP_LOG_LEVEL: 'info', LOCKSTEP_OPERATOR: 'console-test'});
  for (const k of ['LOCKSTEP_KAFKA_BROKERS', 'LOCKSTEP_KAFKA_GROUP_ID', 'LOCKSTEP_METRICS_LISTEN', 'LOCKSTEP_ADMIN_LISTEN']) {
    delete env[k];
  }
  const broker = start('broker', bin, ['broker', '--partitions', '2'], env, dir);
  env.LOCKSTEP_KAFKA_BROKERS = await firstLine(broker);
  log('broker on', env.LOCKSTEP_KAFKA_BROKERS);
  const mig = await run(bin, ['migrate', 'up'], env);
  check(mig.code === 0, 'lockstep migrate up failed: ' + mig.stderr);
  const worker = start('worker', bin, ['run'], env, dir);
  const base = 'http://127.0.0.1:' + adminPort;
  await until('the worker\'s admin listener to report ready with partitions', async () => {
    if (worker.exitCode !== null) throw new TestFailure('lockstep run exited ' + worker.exitCode);
    const s = await apiCall(base, READ_TOKEN, 'GET', '/status');
    return s.status === 200 && s.body.ready && s.body.partitions.length > 0;
  }, 30000, 250);
  log('worker ready, admin on', base);
  return {env, base, worker};
}

async function emit(env, events) {
  const r = await run(bin, ['emit', '--topic', 'transitions.api', '-'], env,
    events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  check(r.code === 0, 'lockstep emit failed (' + r.code + '): ' + r.stdout + r.stderr);
}

// One version conflict on AGG (its second change expected version 1, found 2)
// and one unknown transition whose event carries HTML everywhere it can.
const AGG = {type: 'membership', id: 'guild-7/user-42'};
async function makeDeadLetters(env, base) {
  const ev = (n, transition, extra) => Object.assign({event_id: 'console-test-' + n, aggregate_type: AGG.type,
    aggregate_id: AGG.id, transition}, extra);
  await emit(env, [
    ev(1, 'join', {expected_version: 0, payload: {nick: 'ada', level: 1}, actor: 'bot:welcome'}),
    ev(2, 'verify', {expected_version: 1, payload: {level: 2}, actor: 'bot:verifier'}),
    ev(3, 'edit', {expected_version: 1, payload: {nick: 'ada lovelace', level: 3}, actor: 'api:moderator-9'}),
    {event_id: 'console-test-xss', aggregate_type: 'membership', aggregate_id: XSS_ID, transition: XSS_SCRIPT,
      payload: {note: XSS_SCRIPT, name: XSS_IMG}, actor: XSS_IMG},
  ]);
  const list = await until('two dead letters', async () => {
    const r = await apiCall(base, READ_TOKEN, 'GET', '/dead-letters');
    return r.status === 200 && r.body.items.length >= 2 && r.body.items;
  }, 20000);
  const conflict = list.find((d) => d.reason === 'version_conflict');
  const xss = list.find((d) => d.event_id === 'console-test-xss');
  check(conflict && conflict.event_id === 'console-test-3', 'no version conflict for console-test-3: ' + JSON.stringify(list));
  check(xss, 'no dead letter for the HTML payload');
  return {conflict, xss};
}

// ---- the browser ---------------------------------------------------------

async function shot(page, name) {
  const file = path.join(out, 'console-' + name + '.png');
  await page.screenshot({path: file, fullPage: true});
  log('screenshot', file);
}

function watch(page, problems) {
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    const t = m.text();
    if (/Content.Security.Policy|Refused to/i.test(t)) problems.push('CSP: ' + t);
  });
  page.on('dialog', (d) => { problems.push('dialog opened: ' + d.message()); d.dismiss(); });
}

async function text(page, sel) {
  return (await page.textContent(sel)) || '';
}

async function noSession(page, base, conflict) {
  const res = await page.goto(base + '/console/#/dead-letters');
  check(res.status() === 401, 'a console page without a session answered ' + res.status() + ', not 401');
  check((res.headers()['content-security-policy'] || '').includes("script-src 'self'"), 'no CSP on the 401 page');
  await page.waitForSelector('#login-form');
  check((await text(page, 'h1')).includes('401'), 'the login page does not say 401');
  const body = await page.content();
  check(!body.includes(conflict.event_id) && !body.includes('version_conflict'), 'dead-letter data on the 401 page');
  check(await page.locator('#dead-letter-list').count() === 0, 'a dead-letter list on the 401 page');
  const api = await page.evaluate(async () => (await fetch('/api/v1/dead-letters')).status);
  check(api === 401, 'the API answered ' + api + ' without a session');
}

async function signIn(page, token) {
  await page.fill('#token', 'not-a-token-at-all-000');
  await page.click('#sign-in');
  await page.waitForSelector('#login-error:not([hidden])');
  await page.fill('#token', token);
  await page.click('#sign-in');
  await page.waitForSelector('#whoami .role');
}

async function listAndConflict(page, base, conflict) {
  await page.goto(base + '/console/#/dead-letters');
  await page.waitForSelector('#dead-letter-list tr[data-id="' + conflict.id + '"]');
  check((await text(page, '#whoami')).includes('operator'), 'the top bar does not name the token');
  check((await text(page, '#counts')).includes('version_conflict'), 'the counts do not list version_conflict');
  await page.fill('#filter-aggregate_id', XSS_ID);
  await page.fill('#filter-aggregate_type', 'membership');
  await page.click('#filters button[type=submit]');
  await page.waitForFunction(() => location.hash.includes('aggregate_id='));
  await page.waitForSelector('#dead-letter-list tbody tr[data-id]');
  check(await page.locator('#dead-letter-list tbody tr[data-id]').count() === 1, 'the aggregate filter did not narrow the list');
  await page.click('#filters a.button');  // Clear
  await page.waitForSelector('#dead-letter-list tr[data-id="' + conflict.id + '"]');
  await shot(page, 'list');
  await page.click('#dead-letter-list tr[data-id="' + conflict.id + '"] a[href^="#/dead-letters/"]');
  await page.waitForSelector('#conflict');
  const attempted = await text(page, '#conflict tr[data-field=version] td.attempted');
  const current = await text(page, '#conflict tr[data-field=version] td.current');
  check(attempted.includes('expected 1'), 'attempted version shows "' + attempted + '", not expected 1');
  check(current.includes('actual 2'), 'current version shows "' + current + '", not actual 2');
  const nick = await text(page, '#conflict tr[data-field="data.nick"]');
  check(nick.includes('ada lovelace') && nick.includes('ada'), 'data.nick row shows "' + nick + '"');
  check(await page.locator('#conflict tr.differs[data-field=version]').count() === 1, 'the version row is not highlighted');
  const writer = (await text(page, '#conflict tr[data-field=updated_by] td.current')).trim();
  check(writer !== '' && writer !== '—', 'no last writer shown');
  await shot(page, 'conflict');
}

async function replayRebase(page, base, conflict) {
  await page.selectOption('#replay-mode', 'rebase');
  await page.fill('#replay-note', 'rebased from the console test');
  await page.click('#replay-dry-run');
  await page.waitForFunction(() => document.getElementById('action-result').textContent.includes('would_replay'));
  check((await text(page, '#dl-status')) === 'open', 'a dry run changed the status');
  await page.click('#replay');
  await until('status replayed on the page', async () => (await text(page, '#dl-status')) === 'replayed');
  check((await text(page, '#replay-event-id')).includes('~replay-' + conflict.id), 'no replay event id shown');
  await until('the replay\'s outcome on the page', async () => (await text(page, '#replay-outcome')).startsWith('applied'),
    20000);
  await page.click('#aggregate-link');
  await page.waitForSelector('#timeline');
  await until('the aggregate at version 3', async () => {
    if ((await text(page, '#agg-version')) === '3') return true;
    await page.reload();
    await page.waitForSelector('#agg-version');
    return false;
  }, 15000, 500);
  check(await page.locator('#timeline li.event').count() === 3, 'the timeline does not hold 3 changes');
  await shot(page, 'aggregate');
}

async function inertPayload(page, base, xss) {
  await page.goto(base + '/console/#/dead-letters/' + xss.id);
  await page.waitForSelector('#raw-event');
  const raw = await text(page, '#raw-event');
  check(raw.includes('window.__xss=1</script>') && raw.includes('onerror=\\"window.__xss=2\\"'),
    'the raw event is not shown literally');
  check((await text(page, '#conflict')).includes(XSS_IMG), 'the payload value is not shown literally');
  check((await text(page, '#dl-summary')).includes(XSS_ID), 'the aggregate id is not shown literally');
  check(await page.locator('#view img, #view script').count() === 0, 'the payload made elements');
  // Discard without a note: refused by the server, its message shown, still open.
  await page.click('#discard');
  await page.waitForSelector('#action-result.error');
  const msg = await text(page, '#action-result');
  check(/note/i.test(msg), 'the refusal does not mention the note: ' + msg);
  await page.reload();
  await page.waitForSelector('#dl-status');
  check((await text(page, '#dl-status')) === 'open', 'discard without a note changed the status');
  await page.goto(base + '/console/#/dead-letters');
  await page.waitForSelector('#dead-letter-list tr[data-id="' + xss.id + '"]');
  check((await text(page, '#dead-letter-list')).includes(XSS_ID), 'the list does not show the id literally');
  await page.goto(base + '/console/' + '#/aggregates/membership/' + encodeURIComponent(XSS_ID));
  await page.waitForSelector('#view .error, #agg-facts');
  const xssFlag = await page.evaluate(() => window.__xss);
  check(xssFlag === undefined, 'window.__xss is ' + xssFlag + ': a payload ran');
}

async function statusAndReadOnly(page, base, xss) {
  await page.click('#nav-status');
  await page.waitForSelector('#partitions tbody tr');
  check((await text(page, '#ready')) === 'ready', 'the status page does not say ready');
  await shot(page, 'status');
  await page.click('#sign-out');
  await page.waitForURL('**/console/login');
  await signIn(page, READ_TOKEN);
  await page.goto(base + '/console/#/dead-letters/' + xss.id);
  await page.waitForSelector('#raw-event');
  check(await page.locator('#discard, #replay').count() === 0, 'a read token sees the actions');
  await page.click('#sign-out');
  await page.waitForURL('**/console/login');
  const res = await page.goto(base + '/console/');
  check(res.status() === 401, 'after signing out the console answered ' + res.status());
}

async function main() {
  const t0 = Date.now();
  const {env, base} = await startWorker();
  const {conflict, xss} = await makeDeadLetters(env, base);
  log('dead letters', conflict.id, '(version_conflict) and', xss.id, '(HTML payload)');
  // launch() gives the browser a fresh, temporary profile of its own.
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  onCleanup(() => browser.close());
  const page = await browser.newPage({viewport: {width: 1280, height: 800}});
  page.setDefaultTimeout(15000);
  const problems = [];
  watch(page, problems);
  await noSession(page, base, conflict);
  await signIn(page, WRITE_TOKEN);
  await listAndConflict(page, base, conflict);
  await replayRebase(page, base, conflict);
  await inertPayload(page, base, xss);
  await statusAndReadOnly(page, base, xss);
  check(problems.length === 0, 'browser problems:\n  ' + problems.join('\n  '));
  if (process.env.LOCKSTEP_UPDATE_SCREENSHOTS === '1') {
    for (const s of SHOTS) fs.copyFileSync(path.join(out, 'console-' + s + '.png'), path.join(repo, 'docs', 'img', 'console-' + s + '.png'));
    log('screenshots copied to docs/img/');
  }
  log('PASS in', ((Date.now() - t0) / 1000).toFixed(1), 's');
}

let code = 0;
const stop = async (sig) => {
  log('got', sig, ': stopping');
  await stopAll();
  process.exit(1);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
try {
  await main();
} catch (e) {
  code = 1;
  console.log('FAIL:', e instanceof TestFailure ? e.message : e.stack || e);
  for (const f of ['worker.log', 'broker.log']) {
    const p = path.join(dir, f);
    if (fs.existsSync(p)) console.log('---- last lines of ' + f + '\n' + fs.readFileSync(p, 'utf8').split('\n').slice(-40).join('\n'));
  }
}
await stopAll();
process.exit(code);
