// The console: a top bar and one view per hash route.
//   #/dead-letters[?filters]   the list          (dead-letters.js)
//   #/dead-letters/ID          one dead letter   (dead-letter.js)
//   #/aggregates/TYPE/ID       one aggregate     (aggregate.js)
//   #/status                   the worker        (status.js)
import {api} from './api.js';
import {h, clear, errorBox} from './dom.js';
import {renderList} from './dead-letters.js';
import {renderDeadLetter} from './dead-letter.js';
import {renderAggregate} from './aggregate.js';
import {renderStatus} from './status.js';

const view = document.getElementById('view');
const session = {name: '', role: 'read'};
let generation = 0;  // bumped on each route change: late answers of an old view are dropped

function parseRoute() {
  const hash = location.hash.replace(/^#/, '') || '/dead-letters';
  const [path, qs] = hash.split('?', 2);
  const parts = path.split('/').filter((p) => p !== '').map((p) => {
    try { return decodeURIComponent(p); } catch (e) { return p; }
  });
  return {parts, params: new URLSearchParams(qs || '')};
}

async function route() {
  const gen = ++generation;
  const ctx = {
    session,
    live: () => gen === generation,
    rerender: () => { if (gen === generation) route(); },
  };
  const {parts, params} = parseRoute();
  clear(view);
  document.getElementById('nav-dead-letters').classList.toggle('active', parts[0] === 'dead-letters');
  document.getElementById('nav-status').classList.toggle('active', parts[0] === 'status');
  try {
    if (parts[0] === 'dead-letters' && parts.length === 1) await renderList(view, params, ctx);
    else if (parts[0] === 'dead-letters' && parts.length === 2) await renderDeadLetter(view, parts[1], ctx);
    else if (parts[0] === 'aggregates' && parts.length === 3) await renderAggregate(view, parts[1], parts[2], ctx);
    else if (parts[0] === 'status' && parts.length === 1) await renderStatus(view, ctx);
    else view.appendChild(h('p', {class: 'error'}, 'No such page: ', location.hash));
  } catch (e) {
    if (ctx.live()) view.appendChild(errorBox(e));
  }
}

async function signOut() {
  try {
    await api('DELETE', '/session');
  } finally {
    location.assign('/console/login');
  }
}

async function start() {
  document.getElementById('sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  try {
    const who = await api('GET', '/whoami');
    session.name = who.name;
    session.role = who.role;
    const el = document.getElementById('whoami');
    el.textContent = '';
    el.appendChild(h('span', {class: 'name'}, who.name));
    el.appendChild(h('span', {class: 'role role-' + (who.role === 'write' ? 'write' : 'read')}, who.role));
  } catch (e) {
    view.appendChild(errorBox(e));
    return;
  }
  route();
}

start();
