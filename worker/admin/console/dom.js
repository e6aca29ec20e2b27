// DOM helpers. Every piece of text from the server goes through a text node
// (createTextNode / textContent), never through HTML parsing: dead letters
// carry whatever a producer sent.

// h('a', {href: '#/x', class: 'c'}, 'text', child, [more]) -> Element.
// Attributes are set with setAttribute; `on*` keys in attrs become listeners.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A value as operators read it: strings as they are, everything else as JSON.
export function show(v) {
  if (v === undefined) return '—';
  if (v === null) return 'null';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

export function pretty(v) {
  return JSON.stringify(v, null, 2);
}

// "#/aggregates/TYPE/ID" with each part encoded (ids may hold "/", "?", "#").
export function aggregateHref(type, id) {
  return '#/aggregates/' + encodeURIComponent(type) + '/' + encodeURIComponent(id);
}

export function deadLetterHref(id) {
  return '#/dead-letters/' + encodeURIComponent(String(id));
}

// "#/dead-letters?k=v..." from a map, leaving out empty values.
export function listHref(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return '#/dead-letters' + (s ? '?' + s : '');
}

// Seconds as "4.2 s", "3 min 5 s", "2 h 10 min".
export function age(seconds) {
  if (typeof seconds !== 'number' || !isFinite(seconds)) return '—';
  if (seconds < 60) return seconds.toFixed(1) + ' s';
  const s = Math.floor(seconds);
  if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
}

// A two-column definition table: rows of [label, value|Node].
export function facts(rows, attrs) {
  return h('table', Object.assign({class: 'facts'}, attrs || {}),
    h('tbody', {}, rows.filter(Boolean).map(([label, value, rowAttrs]) =>
      h('tr', rowAttrs || {}, h('th', {scope: 'row'}, label), h('td', {}, value)))));
}

export function errorBox(err) {
  const text = err && err.message ? err.message : String(err);
  return h('p', {class: 'error', role: 'alert'}, text);
}
