// `/ui/instances/{id}`: the template's graph with each step coloured by its latest execution,
// kept live from the instance's event stream (no reload: each event recolours its step at once,
// then the instance and its executions are fetched again); the executions table; and for roles
// that may write, the lifecycle buttons the instance's status allows and a "send event" form for
// each step waiting for an event.

import { api, get, watch } from '../api.js';
import { mayWrite } from '../auth.js';
import { badge, clear, h, json, link, problem, table, time } from '../dom.js';
import { draw } from '../graph.js';

const ACTIONS = [
  ['start', 'Start', ['pending']],
  ['pause', 'Pause', ['running']],
  ['resume', 'Resume', ['paused']],
  ['cancel', 'Cancel', ['pending', 'running', 'paused']],
];

export function instancePage(app, id, navigate) {
  const path = `/instances/${encodeURIComponent(id)}`;
  const head = h('section', { class: 'card', id: 'instance' });
  const graphBox = h('div', { class: 'graph-box' });
  const waiting = h('div', { id: 'waiting' });
  const executions = h('div', { id: 'executions' });
  const notice = h('div', { id: 'notice' });
  const live = h('span', { class: 'live', id: 'live', 'data-live': 'no' }, 'connecting…');
  let setStatus = null;
  let definition = null;
  let instance = null;
  let refreshTimer = null;
  let stop = null;
  let gone = false;

  app.append(head,
    h('section', { class: 'card' }, h('h2', {}, 'Steps ', live), graphBox, waiting),
    h('section', { class: 'card' }, h('h2', {}, 'Executions'), executions));

  async function load() {
    try {
      const [fresh, steps] = await Promise.all([get(path), get(`${path}/steps`)]);
      if (gone) return;
      instance = fresh;
      if (!definition) {
        const template = await get(`/templates/${instance.template_id}?version=${instance.template_version}`);
        definition = template.definition;
        setStatus = draw(graphBox, definition);
        instance.template_name = template.name;
      }
      showHead();
      showSteps(steps.items);
    } catch (error) {
      if (gone) return;
      clear(notice).append(problem(error));
      if (!instance) head.append(h('h1', {}, 'Instance'), notice);
    }
  }

  function refreshSoon() {
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(load, 150);
  }

  function showHead() {
    const name = instance.template_name || head.dataset.templateName || instance.template_id;
    head.dataset.templateName = name;
    clear(head).append(
      h('h1', {}, 'Instance ', h('span', { class: 'mono' }, instance.id), ' ', h('span', { id: 'instance-status' }, badge(instance.status))),
      h('p', { class: 'muted' }, 'template ', link(`/ui/templates/${instance.template_id}?version=${instance.template_version}`, `${name} v${instance.template_version}`),
        ` · created ${time(instance.created_at)}`,
        instance.started_at ? ` · started ${time(instance.started_at)}` : '',
        instance.completed_at ? ` · finished ${time(instance.completed_at)}` : '',
        instance.parent_instance_id ? h('span', {}, ' · parent ', link(`/ui/instances/${instance.parent_instance_id}`, instance.parent_instance_id)) : ''),
      actions(),
      notice,
      h('div', { class: 'columns' },
        h('div', {}, h('h3', {}, 'variables'), json(instance.variables)),
        instance.output ? h('div', {}, h('h3', {}, 'output'), json(instance.output)) : null,
        instance.error ? h('div', {}, h('h3', {}, 'error'), json(instance.error)) : null),
    );
  }

  function actions() {
    if (!mayWrite()) return null;
    const box = h('div', { class: 'actions', id: 'actions' });
    for (const [name, label, from] of ACTIONS) {
      if (!from.includes(instance.status)) continue;
      box.append(h('button', {
        type: 'button', id: `action-${name}`, class: name === 'cancel' ? 'danger' : '',
        onclick: async (event) => {
          event.target.disabled = true;
          clear(notice);
          try {
            instance = { ...instance, ...(await api('PUT', `${path}/${name}`)) };
            showHead();
          } catch (error) {
            notice.append(problem(error));
          } finally {
            event.target.disabled = false;
          }
          refreshSoon();
        },
      }, label));
    }
    return box;
  }

  function showSteps(items) {
    const latest = new Map();
    for (const execution of items) latest.set(execution.step_id, execution);
    if (setStatus) for (const [step, execution] of latest) setStatus(step, execution.status);
    clear(executions).append(table(
      ['step', 'attempt', 'status', 'input', 'output', 'error', 'created', 'started', 'completed'],
      items.map((e) => h('tr', { 'data-step': e.step_id, 'data-status': e.status },
        h('td', {}, e.name ? `${e.step_id} (${e.name})` : e.step_id),
        h('td', {}, e.attempt),
        h('td', {}, badge(e.status)),
        h('td', {}, compact(e.input)),
        h('td', {}, compact(e.output)),
        h('td', {}, compact(e.error)),
        h('td', {}, time(e.created_at)),
        h('td', {}, time(e.started_at)),
        h('td', {}, time(e.completed_at)))),
      'no step has run yet'));
    clear(waiting);
    if (!mayWrite()) return;
    for (const execution of latest.values()) {
      if (execution.status !== 'waiting') continue;
      const step = (definition?.steps || []).find((s) => s.id === execution.step_id);
      if (!step || step.type !== 'wait' || step.config?.wait_type !== 'event') continue;
      waiting.append(eventForm(step));
    }
  }

  function eventForm(step) {
    const name = h('input', { name: 'event', value: step.config.event ?? '' });
    const data = h('textarea', { name: 'data', rows: 2, spellcheck: 'false' }, '{}');
    const out = h('div');
    return h('form', {
      class: 'event-form', 'data-step': step.id,
      onsubmit: async (event) => {
        event.preventDefault();
        clear(out);
        let parsed;
        try {
          parsed = JSON.parse(data.value || 'null');
        } catch (error) {
          out.append(problem(new Error(`data: ${error.message}`)));
          return;
        }
        try {
          await api('POST', `${path}/events`, { event: name.value, data: parsed });
          out.append(h('span', { class: 'muted' }, 'event sent'));
        } catch (error) {
          out.append(problem(error));
        }
        refreshSoon();
      },
    },
    h('strong', {}, `${step.id} waits for an event`),
    h('label', {}, 'event ', name),
    h('label', { class: 'wide' }, 'data (JSON) ', data),
    h('button', { type: 'submit', id: 'send-event' }, 'Send event'),
    out);
  }

  function onEvent(event) {
    if (event.step_id && setStatus) setStatus(event.step_id, event.status);
    if (!event.step_id && instance) {
      instance = { ...instance, status: event.status };
      const holder = document.getElementById('instance-status');
      if (holder) holder.replaceChildren(badge(event.status));
    }
    refreshSoon();
  }

  load().then(() => {
    if (gone) return;
    stop = watch(id, onEvent, () => {
      live.textContent = 'live';
      live.dataset.live = 'yes';
      refreshSoon();
    });
  });

  return () => {
    gone = true;
    window.clearTimeout(refreshTimer);
    if (stop) stop();
  };
}

function compact(value) {
  if (value === null || value === undefined) return '';
  const text = JSON.stringify(value);
  return h('code', { title: text.length > 120 ? text : undefined }, text.length > 120 ? `${text.slice(0, 117)}…` : text);
}
