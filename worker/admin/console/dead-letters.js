// The dead-letter list: filters, counts by reason and status, one page of rows.
import {api, query} from './api.js';
import {h, aggregateHref, deadLetterHref, listHref} from './dom.js';

export const REASONS = ['version_conflict', 'invalid_transition', 'unknown_transition', 'retries_exhausted', 'malformed'];
const STATUSES = ['open', 'replayed', 'discarded'];
const FILTERS = ['status', 'reason', 'aggregate_type', 'aggregate_id', 'since', 'until'];

function select(name, label, values, current) {
  return h('label', {}, label,
    h('select', {name, id: 'filter-' + name},
      h('option', {value: ''}, 'any'),
      values.map((v) => h('option', {value: v, selected: v === current}, v))));
}

function input(name, label, current, placeholder) {
  return h('label', {}, label, h('input', {name, id: 'filter-' + name, value: current || '', placeholder}));
}

function filterForm(filters) {
  const form = h('form', {class: 'filters', id: 'filters'},
    select('status', 'Status', STATUSES, filters.status),
    select('reason', 'Reason', REASONS, filters.reason),
    input('aggregate_type', 'Aggregate type', filters.aggregate_type, 'membership'),
    input('aggregate_id', 'Aggregate id', filters.aggregate_id, 'guild-1/user-9'),
    input('since', 'Since', filters.since, '2h, 7d or 2026-12-01'),
    input('until', 'Until', filters.until, 'RFC 3339 or date'),
    h('button', {type: 'submit'}, 'Apply'),
    h('a', {href: '#/dead-letters', class: 'button secondary'}, 'Clear'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const next = {};
    for (const f of FILTERS) next[f] = (data.get(f) || '').trim();
    const href = listHref(next);
    if (location.hash === href) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = href;
  });
  return form;
}

// Counts as a reason x status table; each number links to the filtered list.
function countsTable(counts, filters) {
  const by = new Map();
  const reasons = [];
  for (const c of counts.counts) {
    if (!reasons.includes(c.reason)) reasons.push(c.reason);
    by.set(c.reason + '\u0000' + c.status, c.count);
  }
  const cell = (reason, status, n) => h('td', {class: 'num'}, n
    ? h('a', {href: listHref(Object.assign({}, filters, {reason, status}))}, String(n)) : '0');
  return h('table', {class: 'counts', id: 'counts'},
    h('caption', {}, 'Matching dead letters by reason and status — total ', String(counts.total)),
    h('thead', {}, h('tr', {}, h('th', {}, 'reason'), STATUSES.map((s) => h('th', {class: 'num'}, s)))),
    h('tbody', {}, reasons.length === 0 ? h('tr', {}, h('td', {colspan: 4, class: 'muted'}, 'none')) :
      reasons.map((r) => h('tr', {}, h('th', {scope: 'row'}, r),
        STATUSES.map((s) => cell(r, s, by.get(r + '\u0000' + s) || 0))))));
}

function row(d) {
  const agg = d.aggregate_type
    ? h('a', {href: aggregateHref(d.aggregate_type, d.aggregate_id || '')}, d.aggregate_type, ':', d.aggregate_id || '')
    : '—';
  return h('tr', {'data-id': d.id},
    h('td', {class: 'num'}, h('a', {href: deadLetterHref(d.id)}, String(d.id))),
    h('td', {}, d.created_at || ''),
    h('td', {}, h('span', {class: 'reason'}, d.reason)),
    h('td', {}, h('span', {class: 'status status-' + d.status}, d.status)),
    h('td', {}, agg),
    h('td', {class: 'mono clip', title: d.event_id}, d.event_id),
    h('td', {class: 'clip', title: d.detail || ''}, d.detail || ''));
}

export async function renderList(view, params, ctx) {
  const filters = {};
  for (const f of FILTERS) if (params.get(f)) filters[f] = params.get(f);
  const cursor = params.get('cursor') || '';
  view.appendChild(h('h1', {}, 'Dead letters'));
  view.appendChild(filterForm(filters));
  const [counts, page] = await Promise.all([
    api('GET', '/dead-letters/counts' + query(filters)),
    api('GET', '/dead-letters' + query(Object.assign({}, filters, {cursor, limit: 50}))),
  ]);
  if (!ctx.live()) return;
  view.appendChild(countsTable(counts, filters));
  const table = h('table', {class: 'list', id: 'dead-letter-list'},
    h('thead', {}, h('tr', {},
      ['id', 'created', 'reason', 'status', 'aggregate', 'event_id', 'detail'].map((c) => h('th', {}, c)))),
    h('tbody', {}, page.items.length === 0
      ? h('tr', {}, h('td', {colspan: 7, class: 'muted'}, 'No dead letters match.'))
      : page.items.map(row)));
  view.appendChild(table);
  const pager = h('p', {class: 'pager'});
  if (cursor) pager.appendChild(h('a', {href: listHref(filters), class: 'button secondary'}, 'First page'));
  if (page.next_cursor !== null && page.next_cursor !== undefined) {
    pager.appendChild(h('a', {href: listHref(Object.assign({}, filters, {cursor: page.next_cursor})),
      class: 'button', id: 'next-page'}, 'Next page'));
  }
  view.appendChild(pager);
}
