// A definition's steps as a graph: dagre lays it out (ranks, crossing reduction, edge routes),
// this file only turns the definition into nodes and edges and draws the result as SVG.
// Edges: next_steps (a condition's first is "true", its second "false"), on_error, a parallel
// step's branches; a subflow node links to the template it runs.

import { Graph, layout } from '@dagrejs/dagre';

const SVG = 'http://www.w3.org/2000/svg';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(key, String(value));
  }
  for (const child of children) if (child) el.append(child);
  return el;
}

function text(x, y, content, cls) {
  const el = svg('text', { x, y, class: cls, 'text-anchor': 'middle' });
  el.textContent = content;
  return el;
}

function subtitle(step) {
  const config = step.config && typeof step.config === 'object' ? step.config : {};
  switch (step.type) {
    case 'action': return `action · ${config.action ?? '?'}`;
    case 'wait': return `wait · ${config.wait_type === 'event' ? `event ${config.event ?? ''}` : config.wait_type ?? ''}`;
    case 'subflow': return `subflow · ${config.subflow_id ?? '?'}`;
    case 'parallel': return `parallel · ${(config.parallel_steps || []).length} branches`;
    case 'condition': {
      const list = Array.isArray(step.conditions) ? step.conditions : config.conditions;
      if (Array.isArray(list)) return `if ${list.length} condition(s) (${config.match === 'any' ? 'any' : 'all'})`;
      if (config.field) return `if ${config.field} ${config.operator ?? ''} ${JSON.stringify(config.value ?? '')}`;
      return 'condition';
    }
    default: return step.type ?? '';
  }
}

// Nodes and edges of a definition, before layout.
export function model(definition) {
  const steps = Array.isArray(definition?.steps) ? definition.steps.filter((s) => s && s.id) : [];
  const ids = new Set(steps.map((s) => s.id));
  const nodes = [];
  const edges = [];
  const start = definition?.start_at && ids.has(definition.start_at) ? definition.start_at : steps[0]?.id;
  if (start) {
    nodes.push({ id: '__start', kind: 'start', title: 'start' });
    edges.push({ from: '__start', to: start, kind: 'next' });
  }
  for (const step of steps) {
    const config = step.config && typeof step.config === 'object' ? step.config : {};
    const node = { id: step.id, kind: 'step', type: step.type, title: step.name || step.id, sub: subtitle(step) };
    if (step.type === 'subflow' && typeof config.subflow_id === 'string') {
      node.href = UUID.test(config.subflow_id)
        ? `/ui/templates/${config.subflow_id}`
        : `/ui/?name=${encodeURIComponent(config.subflow_id)}`;
    }
    nodes.push(node);
    const next = Array.isArray(step.next_steps) ? step.next_steps : [];
    next.forEach((to, i) => {
      if (!ids.has(to)) return;
      const label = step.type === 'condition' ? (i === 0 ? 'true' : 'false') : '';
      edges.push({ from: step.id, to, kind: step.type === 'condition' ? `branch-${label}` : 'next', label });
    });
    if (typeof step.on_error === 'string' && ids.has(step.on_error)) {
      edges.push({ from: step.id, to: step.on_error, kind: 'error', label: 'on_error' });
    }
    if (step.type === 'parallel' && Array.isArray(config.parallel_steps)) {
      config.parallel_steps.forEach((branch, i) => {
        const id = `${step.id}#${i}`;
        nodes.push({ id, kind: 'branch', title: `branch ${i + 1}`, sub: `action · ${branch?.action ?? '?'}`, parent: step.id });
        edges.push({ from: step.id, to: id, kind: 'parallel' });
      });
    }
  }
  return { nodes, edges };
}

// Draws the graph into `container`; returns `setStatus(stepId, status)`, which colours a node
// (a parallel step's branches follow their step).
export function draw(container, definition) {
  const { nodes, edges } = model(definition);
  const g = new Graph({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 28, ranksep: 46, edgesep: 12, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) {
    const chars = Math.max(node.title.length, (node.sub || '').length * 0.85);
    const width = node.kind === 'start' ? 64 : Math.min(320, Math.max(150, chars * 7.6 + 28));
    const height = node.kind === 'start' ? 28 : 60;
    g.setNode(node.id, { width, height });
  }
  edges.forEach((edge, i) => {
    const label = edge.label ? { label: edge.label, width: edge.label.length * 6.5 + 8, height: 14, labelpos: 'c' } : {};
    g.setEdge(edge.from, edge.to, label, `e${i}`);
  });
  layout(g);

  const { width, height } = g.graph();
  const root = svg('svg', {
    class: 'graph', viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`,
    width: Math.ceil(width), height: Math.ceil(height), role: 'img', 'aria-label': 'workflow graph',
  });
  const defs = svg('defs');
  for (const kind of ['next', 'error', 'parallel', 'branch-true', 'branch-false']) {
    defs.append(svg('marker', {
      id: `arrow-${kind}`, viewBox: '0 0 10 10', refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse', class: `arrow ${kind}`,
    }, svg('path', { d: 'M0,0 L10,5 L0,10 z' })));
  }
  root.append(defs);

  edges.forEach((edge, i) => {
    const laid = g.edge(edge.from, edge.to, `e${i}`);
    const points = laid.points.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`);
    root.append(svg('path', {
      class: `edge ${edge.kind}`, d: `M${points.join(' L')}`, 'marker-end': `url(#arrow-${edge.kind})`,
      'data-from': edge.from, 'data-to': edge.to,
    }));
    if (edge.label && laid.x !== undefined) root.append(text(laid.x, laid.y + 4, edge.label, `edge-label ${edge.kind}`));
  });

  const shapes = new Map();
  for (const node of nodes) {
    const laid = g.node(node.id);
    const x = laid.x - laid.width / 2;
    const y = laid.y - laid.height / 2;
    const group = svg('g', {
      class: `node ${node.kind} ${node.type ? `type-${node.type}` : ''}`,
      'data-step': node.kind === 'step' ? node.id : undefined,
      'data-status': 'none',
    });
    const shape = node.kind === 'start'
      ? svg('rect', { x, y, width: laid.width, height: laid.height, rx: 14 })
      : svg('rect', { x, y, width: laid.width, height: laid.height, rx: node.type === 'condition' ? 16 : 6 });
    group.append(shape);
    if (node.kind === 'start') {
      group.append(text(laid.x, laid.y + 4, node.title, 'title'));
    } else {
      group.append(
        text(laid.x, y + 19, node.title, 'title'),
        text(laid.x, y + 35, node.sub, 'sub'),
        text(laid.x, y + 51, '', 'status'),
      );
      const tip = svg('title');
      tip.textContent = node.id;
      group.append(tip);
    }
    if (node.href) {
      const anchor = svg('a', { href: node.href, 'data-link': '' });
      anchor.append(group);
      root.append(anchor);
    } else {
      root.append(group);
    }
    shapes.set(node.id, { group, node });
  }
  container.append(root);

  return function setStatus(stepId, status) {
    for (const { group, node } of shapes.values()) {
      if (node.id !== stepId && node.parent !== stepId) continue;
      group.setAttribute('data-status', status);
      group.classList.forEach((cls) => cls.startsWith('st-') && group.classList.remove(cls));
      group.classList.add(`st-${status}`);
      const label = group.querySelector('text.status');
      if (label) label.textContent = status;
    }
  };
}
