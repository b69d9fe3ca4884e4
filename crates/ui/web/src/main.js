// The dashboard's entry: reads a token from the URL fragment, routes `/ui/...` paths to pages
// (links navigate with the History API, no reloads) and draws the top bar.

import './style.css';
import { claims, signOut, takeTokenFromFragment, token } from './auth.js';
import { append, clear, h, link } from './dom.js';
import { instancePage } from './pages/instance.js';
import { listPage } from './pages/lists.js';
import { signInPage } from './pages/signin.js';
import { templatePage } from './pages/template.js';

const app = document.getElementById('app');
const bar = document.getElementById('bar');
let leave = null;

function route() {
  const path = window.location.pathname;
  let match;
  if (!token()) return () => signInPage(app, render);
  if ((match = /^\/ui\/templates\/([^/]+)$/.exec(path))) return () => templatePage(app, decodeURIComponent(match[1]), navigate);
  if ((match = /^\/ui\/instances\/([^/]+)$/.exec(path))) return () => instancePage(app, decodeURIComponent(match[1]), navigate);
  return () => listPage(app, navigate);
}

function drawBar() {
  clear(bar);
  const who = claims();
  append(bar, [
    link('/ui/', h('span', { class: 'brand' }, 'Chorus'), ' workflows'),
    h('span', { class: 'spacer' }),
    who ? h('span', { class: 'who', 'data-role': who.role }, `${who.sub} · ${who.tenant} · ${who.role}`) : null,
    who ? h('button', { type: 'button', class: 'quiet', onclick: () => { signOut(); render(); } }, 'Sign out') : null,
  ]);
}

export function render() {
  if (leave) leave();
  leave = null;
  clear(app);
  drawBar();
  const result = route()();
  if (typeof result === 'function') leave = result;
}

export function navigate(href) {
  window.history.pushState(null, '', href);
  render();
  window.scrollTo(0, 0);
}

document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const anchor = event.target.closest('a[data-link]');
  if (!anchor) return;
  const href = anchor.getAttribute('href');
  if (!href || !href.startsWith('/ui/')) return;
  event.preventDefault();
  navigate(href);
});
window.addEventListener('popstate', render);

takeTokenFromFragment();
render();
