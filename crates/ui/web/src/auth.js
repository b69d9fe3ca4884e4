// The bearer token: taken from `#token=<jwt>` (the link `make run` prints) or pasted on the
// sign-in page, kept in this tab's session storage only, and never put in a URL: the fragment
// is wiped from the address bar as soon as it is read (fragments are not sent to servers, but
// they stay in history).

const KEY = 'chorus.token';

export function takeTokenFromFragment() {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return;
  setToken(decodeURIComponent(match[1]));
  const url = window.location.pathname + window.location.search;
  window.history.replaceState(null, '', url);
}

export function setToken(token) {
  window.sessionStorage.setItem(KEY, token.trim());
}

export function token() {
  return window.sessionStorage.getItem(KEY);
}

export function signOut() {
  window.sessionStorage.removeItem(KEY);
}

// What the token says about its holder, for display and for hiding the buttons a role may not
// use; the gateway decides, this only spares the user a 403.
export function claims() {
  const jwt = token();
  if (!jwt) return null;
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = part + '='.repeat((4 - (part.length % 4)) % 4);
    const json = JSON.parse(atob(padded));
    return {
      sub: String(json.sub ?? ''),
      tenant: json.tenant || 'default',
      role: json.role || 'operator',
      exp: typeof json.exp === 'number' ? json.exp : null,
    };
  } catch {
    return null;
  }
}

export function mayWrite() {
  const c = claims();
  return c !== null && c.role !== 'viewer';
}
