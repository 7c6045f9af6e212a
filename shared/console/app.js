// The console's shell: the session, the navigation and the hash routes of the pages.

import { Superseded, call, navigated, setCsrf } from './api.js';
import { h, show, form } from './ui.js';
import { dashboard } from './dashboard.js';
import { userList, userPage, userNew, userEdit } from './users.js';
import { groupList, groupPage } from './groups.js';
import { appList, appNew, appPage, authNew, eventEdit, importNew, jobPage } from './apps.js';
import { logPage } from './log.js';

const routes = [
  [/^#?\/?$/, dashboard],
  [/^#\/users$/, userList],
  [/^#\/users\/new$/, userNew],
  [/^#\/users\/([^/?]+)\/edit$/, userEdit],
  [/^#\/users\/([^/?]+)$/, userPage],
  [/^#\/groups$/, groupList],
  [/^#\/groups\/([^/?]+)$/, groupPage],
  [/^#\/apps$/, appList],
  [/^#\/apps\/new$/, appNew],
  [/^#\/apps\/([^/?]+)\/auth\/new$/, authNew],
  [/^#\/apps\/([^/?]+)\/events\/([a-z_]+)$/, eventEdit],
  [/^#\/apps\/([^/?]+)\/imports\/new$/, importNew],
  [/^#\/apps\/([^/?]+)$/, appPage],
  [/^#\/jobs\/([^/?]+)$/, jobPage],
  [/^#\/log$/, logPage],
];

let signedIn = false;

function signInPage() {
  signedIn = false;
  document.getElementById('nav').hidden = true;
  document.getElementById('sign-out').hidden = true;
  document.title = 'Sign in · Provisio';
  show(
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'Use an admin key (from make dev\'s output, or the admin keys secret). It is exchanged for a session and not kept by the browser.'),
    form({
      fields: [{ name: 'key', label: 'Admin key', type: 'password', required: true, autocomplete: 'off' }],
      submit: 'Sign in',
      onSubmit: async ({ key }) => {
        const { body } = await call('POST', '/console/session', { key }).catch((err) => {
          if (err.status === 401) { err.field = 'key'; err.message = 'This admin key is not valid.'; }
          throw err;
        });
        setCsrf(body.csrf);
        signedIn = true;
        route();
      },
    }),
  );
}

async function route() {
  if (!signedIn) {
    try {
      // Not get(): a navigation during the first load must not look like a signed-out session.
      const { body: session } = await call('GET', '/console/session');
      setCsrf(session.csrf);
      signedIn = true;
    } catch {
      return signInPage();
    }
  }
  document.getElementById('nav').hidden = false;
  document.getElementById('sign-out').hidden = false;
  const [path, query] = location.hash.split('?');
  const params = new URLSearchParams(query || '');
  for (const a of document.querySelectorAll('nav a')) {
    const target = a.getAttribute('href');
    const current = target === '#/' ? path === '#/' || path === '' : path.startsWith(target);
    if (current) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const hash = location.hash;
  navigated();
  delete document.body.dataset.rendered;
  for (const [pattern, page] of routes) {
    const m = path.match(pattern);
    if (m) {
      try {
        await page(params, ...m.slice(1).map(decodeURIComponent));
      } catch (err) {
        if (err instanceof Superseded) return;
        if (signedIn) show(h('h1', {}, 'Something went wrong'), h('div', { class: 'alert', role: 'alert' }, err.message));
      }
      // Which route the page on screen shows (a test waits for it after navigating).
      if (location.hash === hash) document.body.dataset.rendered = hash;
      return;
    }
  }
  show(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the dashboard')));
  document.body.dataset.rendered = hash;
}

window.addEventListener('hashchange', route);
window.addEventListener('provisio:signed-out', signInPage);
document.getElementById('sign-out').addEventListener('click', async () => {
  try { await call('DELETE', '/console/session'); } finally { setCsrf(null); signInPage(); }
});
route();
