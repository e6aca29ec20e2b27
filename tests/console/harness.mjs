// Helpers of the console's browser test: child processes that are always
// stopped, a throwaway PostgreSQL database, polling with deadlines, and
// calls to the admin API with a bearer token.
import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const children = [];
const cleanups = [];

export function log(...args) {
  console.log('[console-test ' + new Date().toISOString().slice(11, 23) + ']', ...args);
}

export class TestFailure extends Error {}

export function check(cond, message) {
  if (!cond) throw new TestFailure(message);
}

// Polls fn() until it returns a truthy value; fails naming `what` after ms.
export async function until(what, fn, ms = 15000, every = 200) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new TestFailure('timed out after ' + ms + ' ms waiting for ' + what +
      (last ? ' (last error: ' + last.message + ')' : ''));
    await new Promise((r) => setTimeout(r, every));
  }
}

// Starts a process whose output goes to DIR/NAME.log; stopped by stopAll().
export function start(name, bin, args, env, dir) {
  const out = fs.openSync(path.join(dir, name + '.log'), 'w');
  const child = spawn(bin, args, {env, stdio: ['ignore', 'pipe', out]});
  child.logName = path.join(dir, name + '.log');
  child.name = name;
  child.exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(code === null ? sig : code)));
  children.push(child);
  child.stdout.on('data', (b) => fs.appendFileSync(child.logName, b));
  return child;
}

// The first line the process prints on standard output.
export function firstLine(child, ms = 15000) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new TestFailure(child.name + ' printed no line within ' + ms + ' ms')), ms);
    child.stdout.on('data', (b) => {
      buf += b.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(buf.slice(0, nl).trim());
      }
    });
    child.exited.then((code) => reject(new TestFailure(child.name + ' exited (' + code + ') before printing')));
  });
}

// Runs a command to completion; returns {code, stdout, stderr}.
export function run(bin, args, env, input) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, {env, stdio: ['pipe', 'pipe', 'pipe']});
    let stdout = '', stderr = '';
    child.stdout.on('data', (b) => { stdout += b; });
    child.stderr.on('data', (b) => { stderr += b; });
    child.on('exit', (code) => resolve({code, stdout, stderr}));
    child.stdin.end(input || '');
  });
}

export function onCleanup(fn) {
  cleanups.push(fn);
}

// Each child still running gets SIGTERM, then SIGKILL after 5 s; the newest
// first (the worker before the broker it drains to); then the cleanups.
export async function stopAll() {
  for (const c of children.splice(0).reverse()) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await c.exited;
    clearTimeout(t);
  }
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch (e) {
      log('cleanup:', e.message);
    }
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const {port} = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// A fresh database next to the one LOCKSTEP_TEST_DATABASE_URL names (dropped at the end).
export function createDatabase(baseUrl) {
  const name = 'lockstep_console_' + process.pid + '_' + Math.random().toString(36).slice(2, 8);
  const psql = (sql) => execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', baseUrl, '-c', sql],
    {stdio: ['ignore', 'ignore', 'pipe']});
  psql('CREATE DATABASE "' + name + '"');
  onCleanup(() => psql('DROP DATABASE IF EXISTS "' + name + '" WITH (FORCE)'));
  const u = new URL(baseUrl);
  u.pathname = '/' + name;
  return u.toString();
}

// The admin API with a bearer token: {status, body, headers}.
export async function apiCall(base, token, method, p, body) {
  const headers = {Authorization: 'Bearer ' + token};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + '/api/v1' + p, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  return {status: res.status, body: json, text, headers: res.headers};
}
