// The conflict side by side: what the event tried against the record it met
// (at the conflict, and now), field by field; differing rows highlighted.
import {h, show} from './dom.js';

function cellValue(main, now) {
  // `now`: the record's value today when it moved on since the conflict.
  return [h('span', {class: 'value'}, main), now === undefined ? null : h('span', {class: 'now'}, 'now: ', now)];
}

function line(field, label, attempted, current, opts) {
  const o = opts || {};
  const differs = o.differs !== undefined ? o.differs : attempted !== current;
  return h('tr', {'data-field': field, class: differs ? 'differs' : null},
    h('th', {scope: 'row'}, label),
    h('td', {class: 'attempted'}, cellValue(attempted)),
    h('td', {class: 'current'}, cellValue(current, o.now)));
}

function dataLines(payload, data) {
  const keys = [];
  for (const k of Object.keys(payload)) keys.push(k);
  for (const k of Object.keys(data)) if (!keys.includes(k)) keys.push(k);
  return keys.map((k) => {
    const inEvent = Object.prototype.hasOwnProperty.call(payload, k);
    const inRecord = Object.prototype.hasOwnProperty.call(data, k);
    const attempted = !inEvent ? '(unchanged)' : payload[k] === null ? '(remove)' : show(payload[k]);
    const current = inRecord ? show(data[k]) : '(absent)';
    const differs = inEvent && (payload[k] === null ? inRecord : !inRecord || show(payload[k]) !== current);
    return line('data.' + k, 'data.' + k, attempted, current, {differs});
  });
}

function pick(...vals) {
  for (const v of vals) if (v !== undefined && v !== null) return v;
  return undefined;
}

// d: the dead letter (with `event`, `conflict`, `current`).
export function conflictTable(d) {
  const ev = d.event && typeof d.event === 'object' ? d.event : {};
  const c = d.conflict || {};
  const cur = d.current || null;
  const expectedVersion = pick(c.expected_version, ev.expected_version);
  const actualVersion = pick(c.actual_version, cur && cur.version);
  const expectedState = pick(c.expected_state, ev.expected_state);
  const actualState = pick(c.actual_state, cur && cur.state);
  const nowVersion = cur && actualVersion !== cur.version ? show(cur.version) : undefined;
  const nowState = cur && actualState !== cur.state ? show(cur.state) : undefined;
  const payload = ev.payload && typeof ev.payload === 'object' && !Array.isArray(ev.payload) ? ev.payload
    : (ev.data && typeof ev.data === 'object' && !Array.isArray(ev.data) ? ev.data : {});
  const data = cur && cur.data && typeof cur.data === 'object' ? cur.data : {};
  const absent = cur ? undefined : '(no such aggregate)';
  const rows = [
    line('transition', 'transition', show(ev.transition), absent || '—', {differs: false}),
    line('version', 'version (expected → actual)',
      expectedVersion === undefined ? '(any)' : 'expected ' + show(expectedVersion),
      actualVersion === undefined ? absent || '—' : 'actual ' + show(actualVersion),
      {differs: expectedVersion !== undefined && expectedVersion !== actualVersion, now: nowVersion}),
    line('state', 'state (expected → actual)',
      expectedState === undefined ? '(any)' : 'expected ' + show(expectedState),
      actualState === undefined ? absent || '—' : 'actual ' + show(actualState),
      {differs: expectedState !== undefined && expectedState !== actualState, now: nowState}),
    line('updated_by', 'written by', show(pick(ev.actor, '—')), show(pick(c.updated_by, cur && cur.updated_by, '—')),
      {differs: false}),
    line('updated_at', 'written at', show(pick(ev.occurred_at, '—')),
      show(pick(c.updated_at, cur && cur.updated_at, '—')), {differs: false}),
    ...dataLines(payload, data),
  ];
  return h('table', {class: 'side-by-side', id: 'conflict'},
    h('thead', {}, h('tr', {},
      h('th', {}, 'field'),
      h('th', {}, 'attempted change'),
      h('th', {}, 'current record'))),
    h('tbody', {}, rows));
}
