// The provisioning log of an app or a user, filtered by event and outcome; the redrive of
// dead-lettered messages.

import { call, get, orElse } from './api.js';
import { h, show, table, text } from './ui.js';
import { all } from './groups.js';
import { EVENTS } from './apps.js';
import { userPicker } from './picker.js';

const enc = encodeURIComponent;
// A group's own changes, sent to the SCIM apps it was pushed to.
const GROUP_EVENTS = [['group_renamed', 'Group renamed'], ['group_deleted', 'Group deleted']];
const OUTCOMES = ['succeeded', 'retrying', 'failed', 'skipped', 'held'];

function select(id, label, options, value) {
  return h('div', { class: 'field' }, h('label', { for: id }, label),
    h('select', { id, name: id }, options.map(([v, t]) => h('option', { value: v, selected: v === value }, t))));
}

export async function logPage(params) {
  document.title = 'Provisioning log · Provisio';
  // The apps Provisio provisions to: custom and SCIM apps.
  const apps = (await all('/admin/apps')).filter((a) => a.kind === 'custom_provisioning' || a.kind === 'scim_target');
  const app = params.get('app') || '';
  const user = params.get('user') || '';
  const event = params.get('event') || '';
  const outcome = params.get('outcome') || '';
  // One user's log, one app's, or the newest of every app's (the first 20 apps).
  const sources = user ? [`/admin/users/${enc(user)}/provisioning-log`]
    : app ? [`/admin/apps/${enc(app)}/provisioning-log`]
      : apps.slice(0, 20).map((a) => `/admin/apps/${enc(a.id)}/provisioning-log`);
  const pages = await Promise.all(sources.map((source) => get(`${source}?limit=100`)));
  const page = { items: pages.flatMap((p) => p.items).sort((x, y) => (x.at < y.at ? 1 : -1)).slice(0, 100) };
  const appName = Object.fromEntries(apps.map((a) => [a.id, a.name]));
  const rows = page.items
    .filter((e) => (!app || e.appId === app) && (!event || e.event === event) && (!outcome || e.outcome === outcome))
    .map((e) => [text(e.at), appName[e.appId] || e.appId, e.event, e.outcome, text(e.status),
      e.method ? `${e.method} ${e.url}` : '—', text(e.error || e.reason)]);
  const filters = h('form', { class: 'search', 'aria-label': 'Filters' },
    select('app', 'App', [['', 'Any app'], ...apps.map((a) => [a.id, a.name])], app),
    select('event', 'Event', [['', 'Any'], ...EVENTS, ...GROUP_EVENTS], event),
    select('outcome', 'Outcome', [['', 'Any'], ...OUTCOMES.map((o) => [o, o])], outcome),
    h('button', { type: 'submit' }, 'Filter'));
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const name of ['app', 'event', 'outcome']) if (filters.elements[name].value) q.set(name, filters.elements[name].value);
    if (user) q.set('user', user);
    location.hash = `#/log?${q}`;
  });
  const status = h('div', { role: 'status' });
  const redrive = h('button', { type: 'button', class: 'secondary', onclick: async () => {
    try {
      const { body } = await call('POST', '/admin/provisioning/redrive', app ? { appId: app } : {});
      status.replaceChildren(h('div', { class: 'notice' }, `Redriven: ${body.moved} message(s) back to the dispatch queue.`));
    } catch (err) { status.replaceChildren(h('div', { class: 'alert' }, err.message)); }
  } }, 'Redrive dead-lettered messages');
  const filterTo = (u) => {
    const q = new URLSearchParams(params);
    q.set('user', u.id);
    location.hash = `#/log?${q}`;
  };
  const who = user ? await get(`/admin/users/${enc(user)}`).catch(orElse({ userName: user })) : null;
  show(
    h('h1', {}, 'Provisioning log'),
    who ? h('p', {}, `Entries of ${who.userName}. `, h('a', { href: '#/log' }, 'All users')) : null,
    filters,
    userPicker({ label: 'Filter by user: userName or email', action: 'Show', onPick: filterTo }),
    table(['When', 'App', 'Event', 'Outcome', 'HTTP status', 'Request', 'Detail'], rows, 'Newest first, up to 100'),
    h('h2', {}, 'Dead-lettered messages'),
    h('p', { class: 'muted' }, app ? 'Calls to this app that failed for good wait in the dead-letter queue; fix the cause, then send them again.'
      : 'Calls that failed for good wait in the dead-letter queue; fix the cause, then send them again (every app\'s, or choose an app above).'),
    status,
    redrive,
  );
}
