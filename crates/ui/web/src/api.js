// The REST API as the pages use it. Every failure is an ApiProblem holding the problem document
// the gateway answered (RFC 9457), so pages show what the API said, not a guess.

import { token } from './auth.js';

const BASE = '/api/v1';

export class ApiProblem extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || 'request failed');
    this.problem = problem;
  }
}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const jwt = token();
  if (jwt) headers.Authorization = `Bearer ${jwt}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiProblem({ title: 'Network error', detail: String(error.message || error) });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    throw new ApiProblem(
      json && typeof json === 'object'
        ? json
        : { title: response.statusText, status: response.status, detail: text },
    );
  }
  return json;
}

export const get = (path) => api('GET', path);

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of params) {
    if (value !== undefined && value !== null && value !== '') search.append(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

// A live event stream for one instance (or all, with no id). EventSource cannot send the
// Authorization header, so each connection opens with a fresh one-minute stream ticket; when the
// connection drops, `onGap` runs (the page reloads its data over fetch, so nothing missed stays
// missed) and a new ticket opens a new connection.
export function watch(instanceId, onEvent, onGap) {
  let source = null;
  let stopped = false;
  let retry = null;
  const path = instanceId
    ? `${BASE}/instances/${encodeURIComponent(instanceId)}/events/stream`
    : `${BASE}/events/stream`;

  async function open() {
    if (stopped) return;
    try {
      const { ticket } = await api('POST', '/events/tickets');
      if (stopped) return;
      source = new EventSource(`${path}?ticket=${encodeURIComponent(ticket)}`);
    } catch {
      retry = window.setTimeout(open, 3000);
      return;
    }
    let opened = false;
    source.onopen = () => {
      if (opened) return;
      opened = true;
      onGap();
    };
    source.onmessage = (message) => deliver(message);
    for (const type of EVENT_TYPES) source.addEventListener(type, deliver);
    source.onerror = () => {
      source.close();
      source = null;
      if (!stopped) retry = window.setTimeout(open, 1000);
    };
  }

  function deliver(message) {
    try {
      onEvent(JSON.parse(message.data));
    } catch {
      // A keep-alive or an unreadable event: nothing to show.
    }
  }

  open();
  return () => {
    stopped = true;
    window.clearTimeout(retry);
    if (source) source.close();
  };
}

const EVENT_TYPES = [
  'instance.created', 'instance.started', 'instance.paused', 'instance.resumed',
  'instance.completed', 'instance.failed', 'instance.cancelled', 'step.queued', 'step.started',
  'step.completed', 'step.failed', 'step.retrying', 'step.waiting', 'step.cancelled',
];
