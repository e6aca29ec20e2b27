// The worker: readiness and why not, in-flight events, partitions with lag
// and pauses. Refreshed every 5 s while shown.
import {api} from './api.js';
import {h, facts, age, show} from './dom.js';

function partitionRow(p) {
  return h('tr', {class: p.paused ? 'paused' : null},
    h('td', {}, p.topic),
    h('td', {class: 'num'}, String(p.partition)),
    h('td', {class: 'num'}, p.lag === null || p.lag === undefined ? 'unknown' : String(p.lag)),
    h('td', {}, p.paused ? h('span', {class: 'status status-paused'}, p.paused) : 'consuming'));
}

function render(box, s) {
  while (box.firstChild) box.removeChild(box.firstChild);
  box.appendChild(facts([
    ['readiness', [h('span', {class: 'status ' + (s.ready ? 'status-ready' : 'status-not-ready'), id: 'ready'},
      s.ready ? 'ready' : 'not ready'),
    s.not_ready && s.not_ready.length ? h('ul', {class: 'reasons', id: 'not-ready'},
      s.not_ready.map((r) => h('li', {}, r))) : null]],
    ['consumer group', show(s.group_id)],
    ['in flight', h('span', {id: 'inflight'}, show(s.inflight))],
    ['oldest in flight', h('span', {id: 'oldest-inflight'}, s.inflight ? age(s.oldest_inflight_seconds) : '—')],
    ['as of', new Date().toISOString()],
  ], {id: 'status-facts'}));
  const parts = s.partitions || [];
  box.appendChild(h('h2', {}, 'Partitions ', h('span', {class: 'muted'}, '(' + parts.length + ' assigned)')));
  box.appendChild(h('table', {class: 'list', id: 'partitions'},
    h('thead', {}, h('tr', {}, h('th', {}, 'topic'), h('th', {class: 'num'}, 'partition'),
      h('th', {class: 'num'}, 'lag'), h('th', {}, 'paused'))),
    h('tbody', {}, parts.length === 0
      ? h('tr', {}, h('td', {colspan: 4, class: 'muted'}, 'No partitions assigned to this worker.'))
      : parts.map(partitionRow))));
}

export async function renderStatus(view, ctx) {
  view.appendChild(h('h1', {}, 'Worker status'));
  const box = h('div', {id: 'status'});
  view.appendChild(box);
  render(box, await api('GET', '/status'));
  const again = async () => {
    if (!ctx.live()) return;
    try {
      const s = await api('GET', '/status');
      if (ctx.live()) render(box, s);
    } catch (e) { /* keep the last answer; the next tick tries again */ }
    if (ctx.live()) setTimeout(again, 5000);
  };
  setTimeout(again, 5000);
}
