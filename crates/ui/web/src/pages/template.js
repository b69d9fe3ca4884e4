// `/ui/templates/{id}`: one template version: its steps as a graph, its validation warnings,
// its versions (`?version=N`), the definition as formatted JSON, and (for roles that may
// write) a form that creates an instance of it.

import { api, get, query } from '../api.js';
import { mayWrite } from '../auth.js';
import { h, json, link, problem, time } from '../dom.js';
import { draw } from '../graph.js';

export async function templatePage(app, id, navigate) {
  const version = new URLSearchParams(window.location.search).get('version');
  let template;
  let latest;
  try {
    template = await get(`/templates/${encodeURIComponent(id)}${query([['version', version]])}`);
    latest = version ? await get(`/templates/${encodeURIComponent(id)}`) : template;
  } catch (error) {
    app.append(h('section', { class: 'card' }, h('h1', {}, 'Template'), problem(error)));
    return;
  }

  const versions = h('nav', { class: 'versions' }, 'versions: ');
  for (let v = latest.version; v >= 1; v -= 1) {
    const href = v === latest.version ? `/ui/templates/${id}` : `/ui/templates/${id}?version=${v}`;
    versions.append(v === template.version ? h('strong', {}, `v${v}`) : link(href, `v${v}`), ' ');
  }

  const warnings = template.warnings.length
    ? h('ul', { class: 'warnings' }, template.warnings.map((w) => h('li', {}, h('code', {}, w.path), ' ', w.message)))
    : h('p', { class: 'muted' }, 'no validation warnings');

  const graph = h('div', { class: 'graph-box' });
  app.append(
    h('section', { class: 'card' },
      h('h1', {}, template.name, ' ', h('span', { class: 'muted' }, `v${template.version}`)),
      template.description ? h('p', {}, template.description) : null,
      h('p', { class: 'muted' }, `id ${template.id} · created ${time(template.created_at)} · updated ${time(template.updated_at)} · `,
        link(`/ui/?template_id=${template.id}`, 'its instances')),
      versions),
    h('section', { class: 'card' }, h('h2', {}, 'Steps'), graph),
    h('section', { class: 'card' }, h('h2', {}, 'Validation warnings'), warnings),
    mayWrite() ? runForm(template, navigate) : null,
    h('section', { class: 'card' }, h('h2', {}, 'Definition'), json(template.definition)),
  );
  draw(graph, template.definition);
}

function runForm(template, navigate) {
  const out = h('div');
  const variables = h('textarea', { name: 'variables', rows: 3, spellcheck: 'false' }, '{}');
  const create = async (start) => {
    out.replaceChildren();
    let parsed;
    try {
      parsed = JSON.parse(variables.value || '{}');
    } catch (error) {
      out.append(problem(new Error(`variables: ${error.message}`)));
      return;
    }
    try {
      const instance = await api('POST', '/instances', {
        template_id: template.id, version: template.version, variables: parsed, start,
      });
      navigate(`/ui/instances/${instance.id}`);
    } catch (error) {
      out.append(problem(error));
    }
  };
  return h('section', { class: 'card' }, h('h2', {}, 'New instance'),
    h('label', { class: 'wide' }, 'variables (JSON) ', variables),
    h('div', { class: 'actions' },
      h('button', { type: 'button', id: 'create-instance', onclick: () => create(false) }, 'Create'),
      h('button', { type: 'button', id: 'create-start-instance', onclick: () => create(true) }, 'Create and start')),
    out);
}
