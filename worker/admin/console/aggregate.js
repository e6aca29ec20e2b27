// One aggregate: its current record and its audit history as a timeline,
// oldest change first (the order the API pages in).
import {api, query} from './api.js';
import {h, facts, pretty, show, listHref} from './dom.js';

function entry(a) {
  const from = a.from_state === null || a.from_state === undefined ? 'new' : a.from_state;
  const src = a.source_topic ? a.source_topic + ' / partition ' + show(a.source_partition) + ' / offset ' +
    show(a.source_offset) : null;
  return h('li', {class: 'event', 'data-version': a.to_version},
    h('div', {class: 'marker'}, 'v', String(a.to_version)),
    h('div', {class: 'body'},
      h('p', {class: 'what'},
        h('strong', {}, a.transition), ' ', from, ' → ', a.to_state,
        h('span', {class: 'muted'}, ' (version ', String(a.from_version), ' → ', String(a.to_version), ')')),
      h('p', {class: 'muted'}, 'applied ', show(a.applied_at),
        a.occurred_at ? ' · occurred ' + a.occurred_at : '',
        a.source ? ' · source ' + a.source : '',
        a.actor ? ' · actor ' + a.actor : ''),
      h('p', {class: 'muted mono'}, a.event_id, src ? ' · ' + src : '')));
}

export async function renderAggregate(view, type, id, ctx) {
  const base = '/aggregates/' + encodeURIComponent(type) + '/' + encodeURIComponent(id);
  view.appendChild(h('p', {class: 'crumbs'}, h('a', {href: '#/dead-letters'}, '← Dead letters')));
  view.appendChild(h('h1', {}, 'Aggregate ', h('span', {class: 'mono'}, type, ':', id)));
  const [agg, hist] = await Promise.all([api('GET', base), api('GET', base + '/history' + query({limit: 100}))]);
  if (!ctx.live()) return;
  view.appendChild(facts([
    ['state', h('span', {class: 'state', id: 'agg-state'}, agg.state)],
    ['version', h('span', {id: 'agg-version'}, String(agg.version))],
    ['updated', show(agg.updated_at) + ' by ' + show(agg.updated_by === null ? '—' : agg.updated_by)],
    ['created', show(agg.created_at)],
    ['dead letters', h('a', {href: listHref({aggregate_type: type, aggregate_id: id})}, 'this aggregate\'s')],
  ], {id: 'agg-facts'}));
  view.appendChild(h('h2', {}, 'Data'));
  view.appendChild(h('pre', {class: 'raw', id: 'agg-data'}, pretty(agg.data)));
  view.appendChild(h('h2', {}, 'History ', h('span', {class: 'muted'}, '(oldest first)')));
  const list = h('ol', {class: 'timeline', id: 'timeline'});
  view.appendChild(list);
  const more = h('p', {class: 'pager'});
  view.appendChild(more);
  const addPage = (page) => {
    for (const a of page.items) list.appendChild(entry(a));
    while (more.firstChild) more.removeChild(more.firstChild);
    if (page.next_cursor !== null && page.next_cursor !== undefined) {
      more.appendChild(h('button', {type: 'button', class: 'secondary', id: 'history-more', onclick: async () => {
        const next = await api('GET', base + '/history' + query({cursor: page.next_cursor, limit: 100}));
        if (ctx.live()) addPage(next);
      }}, 'Later changes'));
    }
  };
  if (hist.items.length === 0) list.appendChild(h('li', {class: 'muted'}, 'No recorded changes.'));
  addPage(hist);
}
