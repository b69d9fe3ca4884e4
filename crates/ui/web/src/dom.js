// A few helpers to build the pages from the DOM API: text goes in as text (never as HTML), so
// data from workflows cannot inject markup.

import { ApiProblem } from './api.js';
import { signOut } from './auth.js';

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function link(href, ...children) {
  return h('a', { href, 'data-link': true }, ...children);
}

export function time(text) {
  if (!text) return '';
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) return text;
  return at.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function badge(status) {
  return h('span', { class: `badge st-${status}`, 'data-status': status }, status);
}

export function json(value) {
  return h('pre', { class: 'json' }, value === undefined ? '' : JSON.stringify(value, null, 2));
}

// An error as the problem document states it: title and status, detail, and each located
// error (`/variables.email: ...`).
export function problem(error) {
  const p = error instanceof ApiProblem ? error.problem : { title: 'Error', detail: String(error) };
  const box = h('div', { class: 'problem', role: 'alert' },
    h('strong', {}, [p.title || 'Error', p.status ? ` (${p.status})` : ''].join('')),
    p.detail ? h('div', { class: 'detail' }, p.detail) : null,
  );
  if (Array.isArray(p.errors) && p.errors.length) {
    box.append(h('ul', {}, p.errors.map((e) => h('li', {}, h('code', {}, e.path || '/'), ' ', e.message))));
  }
  if (p.type) box.append(h('div', { class: 'type' }, p.type));
  if (p.status === 401) {
    // An expired or foreign token: back to the sign-in page, which a reload shows.
    box.append(h('button', { type: 'button', onclick: () => { signOut(); window.location.reload(); } }, 'Sign in again'));
  }
  return box;
}

export function table(headers, rows, empty = 'nothing here') {
  return h('table', {},
    h('thead', {}, h('tr', {}, headers.map((name) => h('th', {}, name)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'empty' }, empty))),
  );
}
