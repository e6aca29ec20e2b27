// One dead letter: what happened, the conflict side by side, the raw event,
// and (for write tokens) replay and discard.
import {api} from './api.js';
import {h, facts, pretty, show, aggregateHref, listHref, errorBox} from './dom.js';
import {conflictTable} from './conflict.js';

let flash = null;  // the last action's result, shown once after the page reloads

function replayFacts(r) {
  if (!r) return null;
  const outcome = r.outcome === null || r.outcome === undefined ? 'not processed yet'
    : r.outcome + (r.reason ? ' (' + r.reason + ')' : '') +
      (r.version !== null && r.version !== undefined ? ', version ' + r.version : '') +
      (r.state ? ', state ' + r.state : '');
  return ['replay outcome', h('span', {id: 'replay-outcome'}, outcome)];
}

function summary(d) {
  const src = d.source || {};
  return facts([
    ['status', h('span', {class: 'status status-' + d.status, id: 'dl-status'}, d.status)],
    ['reason', h('span', {class: 'reason'}, d.reason)],
    ['detail', d.detail || '—'],
    ['event_id', h('span', {class: 'mono'}, d.event_id)],
    ['aggregate', d.aggregate_type
      ? [h('a', {href: aggregateHref(d.aggregate_type, d.aggregate_id || ''), id: 'aggregate-link'},
          d.aggregate_type, ':', d.aggregate_id || ''), ' · ',
         h('a', {href: listHref({aggregate_type: d.aggregate_type, aggregate_id: d.aggregate_id})},
          'its dead letters')]
      : '—'],
    ['source', show(src.topic) + ' / partition ' + show(src.partition) + ' / offset ' + show(src.offset)],
    ['attempts', show(d.attempts)],
    ['created_at', show(d.created_at)],
    d.resolved_at ? ['resolved', show(d.resolved_at) + ' by ' + show(d.resolved_by)] : null,
    d.note ? ['note', d.note] : null,
    d.replay_event_id ? ['replay event', h('span', {class: 'mono', id: 'replay-event-id'}, d.replay_event_id)] : null,
    replayFacts(d.replay),
  ], {id: 'dl-summary'});
}

function resultText(res) {
  const items = res.items || [];
  const parts = items.map((it) => '#' + it.id + ' ' + it.status +
    (it.replay_event_id ? ' as ' + it.replay_event_id : '') +
    (it.topic ? ' to ' + it.topic + (it.partition !== undefined ? '[' + it.partition + ']@' + it.offset : '') : ''));
  if (items.length === 0) parts.push('nothing to do');
  if (res.skipped) parts.push(res.skipped + ' skipped');
  return (res.dry_run ? 'Dry run: ' : 'Done: ') + parts.join('; ');
}

// Sends one action; a dry run shows its result in place, a real one reloads the page.
function act(kind, body, out, ctx) {
  return async () => {
    out.textContent = '';
    out.className = 'result';
    try {
      const res = await api('POST', '/dead-letters/' + kind, body());
      if (res.dry_run) {
        out.textContent = resultText(res);
      } else {
        flash = resultText(res);
        ctx.rerender();
      }
    } catch (e) {
      out.className = 'result error';
      out.setAttribute('role', 'alert');
      out.textContent = e.message + (e.field ? ' (' + e.field + ')' : '');
    }
  };
}

function actions(d, ctx) {
  if (ctx.session.role !== 'write') {
    return h('p', {class: 'muted'}, 'Replay and discard need a write token; this one (', ctx.session.name,
      ') may only read.');
  }
  if (d.status !== 'open') return h('p', {class: 'muted'}, 'Only open dead letters can be replayed or discarded.');
  const out = h('p', {class: 'result', id: 'action-result'});
  const mode = h('select', {id: 'replay-mode', name: 'mode'},
    h('option', {value: 'keep'}, 'keep: the event as it was'),
    h('option', {value: 'rebase'}, 'rebase: expect the current version'),
    h('option', {value: 'no_version_check'}, 'no version check: drop expected_version'));
  if (d.reason === 'version_conflict') mode.value = 'rebase';
  const replayNote = h('input', {id: 'replay-note', name: 'note', placeholder: 'optional'});
  const replayBody = (dry) => () => {
    const b = {ids: [d.id], mode: mode.value, dry_run: dry};
    if (replayNote.value.trim()) b.note = replayNote.value;
    return b;
  };
  const malformed = !(d.event && typeof d.event === 'object');
  const replay = h('fieldset', {class: 'action'},
    h('legend', {}, 'Replay'),
    malformed ? h('p', {class: 'muted'}, 'A malformed event cannot be replayed: emit a fixed one and discard this.')
      : [h('label', {}, 'Mode', mode), h('label', {}, 'Note', replayNote),
        h('button', {type: 'button', id: 'replay-dry-run', class: 'secondary',
          onclick: act('replay', replayBody(true), out, ctx)}, 'Dry run'),
        h('button', {type: 'button', id: 'replay', onclick: act('replay', replayBody(false), out, ctx)}, 'Replay')]);
  const discardNote = h('input', {id: 'discard-note', name: 'note', placeholder: 'required: why'});
  const discard = h('fieldset', {class: 'action'},
    h('legend', {}, 'Discard'),
    h('label', {}, 'Note', discardNote),
    h('button', {type: 'button', id: 'discard', class: 'danger',
      onclick: act('discard', () => ({ids: [d.id], note: discardNote.value}), out, ctx)}, 'Discard'));
  return h('div', {class: 'actions'}, replay, discard, out);
}

export async function renderDeadLetter(view, id, ctx) {
  const d = await api('GET', '/dead-letters/' + encodeURIComponent(id));
  if (!ctx.live()) return;
  view.appendChild(h('p', {class: 'crumbs'}, h('a', {href: '#/dead-letters'}, '← Dead letters')));
  view.appendChild(h('h1', {}, 'Dead letter ', String(d.id), ' ',
    h('span', {class: 'status status-' + d.status}, d.status)));
  if (flash) {
    view.appendChild(h('p', {class: 'flash', id: 'flash'}, flash));
    flash = null;
  }
  view.appendChild(summary(d));
  if (d.event && typeof d.event === 'object') {
    view.appendChild(h('h2', {}, 'Attempted change against the current record'));
    view.appendChild(h('p', {class: 'muted'}, 'Left: what the event asked for. Right: the record it met ',
      '(at the conflict; "now:" when it has changed since). Highlighted rows differ.'));
    view.appendChild(conflictTable(d));
  }
  view.appendChild(h('h2', {}, 'Actions'));
  view.appendChild(actions(d, ctx));
  view.appendChild(h('h2', {}, d.event ? 'The event as received' : 'The message as received (base64)'));
  view.appendChild(h('pre', {class: 'raw', id: 'raw-event'},
    d.event ? pretty(d.event) : show(d.raw_base64)));
  if (d.replay && (d.replay.outcome === null || d.replay.outcome === undefined)) watchReplay(d.id, ctx);
}

// Until the worker has answered the replay, look again every second (30 s at most).
function watchReplay(id, ctx) {
  let tries = 0;
  const tick = async () => {
    if (!ctx.live() || ++tries > 30) return;
    try {
      const d = await api('GET', '/dead-letters/' + encodeURIComponent(id));
      const el = document.getElementById('replay-outcome');
      if (!ctx.live() || !el) return;
      const f = replayFacts(d.replay);
      if (f) el.textContent = f[1].textContent;
      if (d.replay && d.replay.outcome !== null && d.replay.outcome !== undefined) return;
    } catch (e) {
      if (ctx.live()) document.getElementById('view').appendChild(errorBox(e));
      return;
    }
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 1000);
}
