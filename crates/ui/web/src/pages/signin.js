// Sign-in: paste a bearer token (or open the link `make run` prints, whose `#token=` fragment
// signs in at once).

import { setToken } from '../auth.js';
import { h } from '../dom.js';

export function signInPage(app, done) {
  const input = h('textarea', { id: 'token', rows: 4, placeholder: 'eyJhbGciOiJIUzI1NiIs…', autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', {
    class: 'card signin',
    onsubmit: (event) => {
      event.preventDefault();
      if (!input.value.trim()) return;
      setToken(input.value);
      done();
    },
  },
  h('h1', {}, 'Sign in'),
  h('p', {}, 'Paste a bearer token (', h('code', {}, 'workflow-engine token'), ' prints one; ',
    h('code', {}, 'make run'), ' prints a link that signs you in). It stays in this tab only.'),
  input,
  h('button', { type: 'submit' }, 'Sign in'));
  app.append(form);
}
