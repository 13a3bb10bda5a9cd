// router.js — history-API routing: the server answers index.html for every
// non-API path, so /queue/demo/5 survives a reload.
import { signal } from '@preact/signals';

export const path = signal(location.pathname);
export const query = signal(new URLSearchParams(location.search));

export function navigate(to, replace = false) {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  const u = new URL(to, location.origin);
  path.value = u.pathname;
  query.value = u.searchParams;
}

addEventListener('popstate', () => {
  path.value = location.pathname;
  query.value = new URLSearchParams(location.search);
});

// Match "/queue/:client/:id" against the current path; params or null.
export function match(pattern, p = path.value) {
  const a = pattern.split('/');
  const b = p.split('/');
  if (a.length !== b.length) return null;
  const params = {};
  for (let i = 0; i < a.length; i++) {
    if (a[i].startsWith(':')) params[a[i].slice(1)] = decodeURIComponent(b[i]);
    else if (a[i] !== b[i]) return null;
  }
  return params;
}
