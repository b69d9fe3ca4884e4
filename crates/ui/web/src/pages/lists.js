// `/ui/`: the templates and the instances, newest first, in cursor pages. The instance filters
// (status, template, time range, variables) live in the page's own query string, so a filtered
// list is a link; they are passed to `GET /api/v1/instances` as they are.

import { get, query } from '../api.js';
import { badge, h, link, problem, table, time } from '../dom.js';

const STATUSES = ['pending', 'running', 'paused', 'completed', 'failed', 'cancelled'];
const TIMES = [['created_after', 'created after'], ['created_before', 'created before'], ['updated_after', 'updated after']];

// `datetime-local` speaks local time without a zone; the API, RFC 3339.
function toLocalInput(iso) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return '';
  const local = new Date(at.getTime() - at.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 19);
}

function fromLocalInput(value) {
  if (!value) return '';
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? '' : at.toISOString();
}

export function listPage(app, navigate) {
  const params = new URLSearchParams(window.location.search);
  const templatesBox = h('section', { class: 'card', id: 'templates' }, h('h2', {}, 'Templates'));
  const instancesBox = h('section', { class: 'card', id: 'instances' }, h('h2', {}, 'Instances'));
  app.append(templatesBox, instancesBox);
  const names = new Map();

  const withParams = (changes) => {
    const next = new URLSearchParams(window.location.search);
    for (const [key, value] of Object.entries(changes)) {
      if (value === null || value === '') next.delete(key);
      else next.set(key, value);
    }
    const text = next.toString();
    return `/ui/${text ? `?${text}` : ''}`;
  };

  async function templates() {
    const name = params.get('name') || '';
    const filter = h('form', {
      class: 'filters',
      onsubmit: (event) => {
        event.preventDefault();
        navigate(withParams({ name: event.target.elements.name.value.trim(), tcursor: null }));
      },
    }, h('label', {}, 'name ', h('input', { name: 'name', value: name, placeholder: 'any' })), h('button', { type: 'submit' }, 'Filter'));
    templatesBox.append(filter);
    try {
      const page = await get(`/templates${query([['name', name], ['limit', 20], ['cursor', params.get('tcursor')]])}`);
      const rows = page.items.map((t) => h('tr', { 'data-template': t.id },
        h('td', {}, link(`/ui/templates/${t.id}`, t.name)),
        h('td', {}, `v${t.version}`),
        h('td', {}, t.warnings.length ? h('span', { class: 'warn' }, `${t.warnings.length} warning(s)`) : ''),
        h('td', {}, time(t.created_at)),
        h('td', {}, time(t.updated_at))));
      templatesBox.append(table(['name', 'version', 'warnings', 'created', 'updated'], rows, 'no templates yet'));
      templatesBox.append(pager(page.next_cursor, 'tcursor'));
    } catch (error) {
      templatesBox.append(problem(error));
    }
  }

  function pager(next, key) {
    return h('nav', { class: 'pager' },
      params.get(key) ? link(withParams({ [key]: null }), '« first page') : null,
      next ? link(withParams({ [key]: next }), 'next page »') : null);
  }

  async function instances() {
    const variables = [...params.entries()].filter(([k]) => k.startsWith('variables.'));
    let templateOptions = [];
    try {
      const all = await get('/templates?limit=500');
      for (const t of all.items) names.set(t.id, t.name);
      templateOptions = all.items;
    } catch {
      // The select stays short; the list below shows the error if the API is down.
    }
    const form = h('form', {
      class: 'filters', id: 'instance-filters',
      onsubmit: (event) => {
        event.preventDefault();
        const f = event.target.elements;
        const next = new URLSearchParams();
        for (const [k, v] of params.entries()) if (k === 'name' || k === 'tcursor') next.set(k, v);
        if (f.status.value) next.set('status', f.status.value);
        if (f.template_id.value) next.set('template_id', f.template_id.value);
        for (const [key] of TIMES) {
          const iso = fromLocalInput(f[key].value);
          if (iso) next.set(key, iso);
        }
        for (const line of f.variables.value.split('\n')) {
          const at = line.indexOf('=');
          if (at <= 0) continue;
          next.append(`variables.${line.slice(0, at).trim().replace(/^variables\./, '')}`, line.slice(at + 1).trim());
        }
        const text = next.toString();
        navigate(`/ui/${text ? `?${text}` : ''}`);
      },
    },
    h('label', {}, 'status ', h('select', { name: 'status' },
      h('option', { value: '' }, 'any'),
      STATUSES.map((s) => h('option', { value: s, selected: params.get('status') === s }, s)))),
    h('label', {}, 'template ', h('select', { name: 'template_id' },
      h('option', { value: '' }, 'any'),
      templateOptions.map((t) => h('option', { value: t.id, selected: params.get('template_id') === t.id }, t.name)))),
    TIMES.map(([key, label]) => h('label', {}, `${label} `,
      h('input', { type: 'datetime-local', step: 1, name: key, value: params.get(key) ? toLocalInput(params.get(key)) : '' }))),
    h('label', { class: 'wide' }, 'variables ', h('textarea', {
      name: 'variables', rows: 1, placeholder: 'email=ann@example.com', title: 'one path=value a line, all must hold', spellcheck: 'false',
    }, variables.map(([k, v]) => `${k.slice('variables.'.length)}=${v}`).join('\n'))),
    h('button', { type: 'submit' }, 'Search'),
    link('/ui/', 'clear'));
    instancesBox.append(form);

    const pairs = [];
    for (const key of ['status', 'template_id', ...TIMES.map(([k]) => k)]) pairs.push([key, params.get(key)]);
    pairs.push(...variables, ['limit', 25], ['cursor', params.get('cursor')]);
    try {
      const page = await get(`/instances${query(pairs)}`);
      const rows = page.items.map((i) => h('tr', { 'data-instance': i.id },
        h('td', { class: 'mono' }, link(`/ui/instances/${i.id}`, i.id)),
        h('td', {}, link(`/ui/templates/${i.template_id}`, names.get(i.template_id) || i.template_id.slice(0, 8)), ` v${i.template_version}`),
        h('td', {}, badge(i.status)),
        h('td', { class: 'vars' }, summary(i.variables)),
        h('td', {}, time(i.created_at)),
        h('td', {}, time(i.started_at)),
        h('td', {}, time(i.completed_at)),
        h('td', {}, time(i.updated_at))));
      instancesBox.append(table(['instance', 'template', 'status', 'variables', 'created', 'started', 'completed', 'updated'], rows, 'no instances match'));
      instancesBox.append(pager(page.next_cursor, 'cursor'));
    } catch (error) {
      instancesBox.append(problem(error));
    }
  }

  templates();
  instances();
}

function summary(variables) {
  const text = JSON.stringify(variables ?? {});
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}
