// Users: search and pages of the list, a user's page (profile, groups, apps in scope with
// provision on demand, provisioning log), create, edit (with the version check), deactivate, delete.

import { call, get } from './api.js';
import { h, show, form, table, text } from './ui.js';
import { all } from './groups.js';

const PAGE = 25;
const enc = encodeURIComponent;

const userLink = (u) => h('a', { href: `#/users/${enc(u.id)}` }, u.userName);

const RESULTS = {
  done: 'Done', skipped: 'Nothing to send', held: 'Held by the deletion threshold', retrying: 'The app failed; the queue tries again',
  waiting: 'Another dispatch is creating the account', failed: 'Failed',
};

/// A provision on demand as it went: each request (authorization masked) and the app's answer.
function shownOnDemand(app, r) {
  return [
    h('h2', {}, `Provision now: ${app}`),
    h('p', { 'data-on-demand': r.result }, `${RESULTS[r.result] || r.result}${r.reason ? `: ${r.reason}` : '.'}`),
    ...r.calls.map((c, i) => h('div', { class: 'card' },
      h('h3', {}, `Call ${i + 1}: ${c.event}, ${c.status ? `HTTP ${c.status}` : 'no answer'} in ${c.latencyMs} ms (${c.outcome})`),
      h('pre', { 'aria-label': `Request ${i + 1}` }, JSON.stringify(c.request, null, 2)),
      c.response ? h('pre', { 'aria-label': `Answer ${i + 1}` }, c.response) : null,
      c.error ? h('div', { class: 'alert' }, c.error) : null)),
  ];
}

export async function userList(params) {
  document.title = 'Users · Provisio';
  const q = (params.get('q') || '').trim();
  const cursor = params.get('cursor');
  let query = `limit=${PAGE}`;
  if (q) query += q.includes('@') ? `&email=${enc(q)}` : `&userName=${enc(q)}`;
  if (cursor) query += `&cursor=${enc(cursor)}`;
  const page = await get(`/admin/users?${query}`);
  const search = h('form', { class: 'search', role: 'search' },
    h('div', { class: 'field' },
      h('label', { for: 'user-search' }, 'Search by userName (starts with) or email'),
      h('input', { id: 'user-search', name: 'q', type: 'search', value: q })),
    h('button', { type: 'submit' }, 'Search'));
  search.addEventListener('submit', (e) => {
    e.preventDefault();
    const value = search.elements.q.value.trim();
    location.hash = value ? `#/users?q=${enc(value)}` : '#/users';
  });
  const rows = page.items.map((u) => [userLink(u), text(u.email), text(u.displayName),
    u.active ? 'active' : 'inactive']);
  const next = page.nextCursor
    ? h('a', { href: `#/users?${q ? `q=${enc(q)}&` : ''}cursor=${enc(page.nextCursor)}` }, 'Next page')
    : null;
  show(
    h('h1', {}, 'Users'),
    h('div', { class: 'actions' }, h('a', { href: '#/users/new' }, 'Add user')),
    search,
    table(['userName', 'Email', 'Display name', 'Status'], rows, q ? `Users matching “${q}”` : 'All users, by userName'),
    h('div', { class: 'actions' }, cursor ? h('a', { href: q ? `#/users?q=${enc(q)}` : '#/users' }, 'First page') : null, next),
  );
}

const profileFields = (u = {}) => [
  { name: 'userName', label: 'userName', required: true, value: u.userName },
  { name: 'email', label: 'Email', type: 'email', value: u.email },
  { name: 'givenName', label: 'Given name', value: u.givenName },
  { name: 'familyName', label: 'Family name', value: u.familyName },
  { name: 'displayName', label: 'Display name', value: u.displayName },
];

/// The form's values as the API takes them: empty text is absent (create) or cleared (edit).
function profile(values, clear) {
  const out = {};
  for (const [k, v] of Object.entries(values)) {
    if (typeof v === 'boolean') out[k] = v;
    else if (v.trim() !== '') out[k] = v.trim();
    else if (clear && k !== 'userName') out[k] = null;
  }
  return out;
}

export async function userNew() {
  document.title = 'Add user · Provisio';
  show(
    h('h1', {}, 'Add user'),
    form({
      fields: [...profileFields(), { name: 'active', label: 'Active', type: 'checkbox', value: true }],
      submit: 'Create user',
      onSubmit: async (values) => {
        const { body } = await call('POST', '/admin/users', profile(values, false));
        location.hash = `#/users/${enc(body.id)}`;
      },
    }),
  );
}

export async function userEdit(_params, id) {
  const reply = await call('GET', `/admin/users/${enc(id)}`);
  const u = reply.body;
  document.title = `Edit ${u.userName} · Provisio`;
  show(
    h('h1', {}, `Edit ${u.userName}`),
    form({
      fields: profileFields(u),
      submit: 'Save changes',
      onSubmit: async (values) => {
        await call('PATCH', `/admin/users/${enc(id)}`, profile(values, true), { 'if-match': reply.etag });
        location.hash = `#/users/${enc(id)}`;
      },
    }),
    h('p', {}, h('a', { href: `#/users/${enc(id)}` }, 'Cancel')),
  );
}

export async function userPage(_params, id) {
  const reply = await call('GET', `/admin/users/${enc(id)}`);
  const u = reply.body;
  const [memberships, log] = await Promise.all([
    get(`/admin/users/${enc(id)}/groups?limit=100`),
    get(`/admin/users/${enc(id)}/provisioning-log?limit=25`),
  ]);
  const [groups, policies, apps] = await Promise.all([
    Promise.all(memberships.items.map((m) => get(`/admin/groups/${enc(m.groupId)}`))),
    all('/admin/policies'),
    all('/admin/apps'),
  ]);
  // In an app's scope through a group of the user and that group's app login policy.
  const groupName = Object.fromEntries(groups.map((g) => [g.id, g.name]));
  const appName = Object.fromEntries(apps.map((a) => [a.id, a.name]));
  const kinds = Object.fromEntries(apps.map((a) => [a.id, a.kind]));
  // Or in the scope of every app provisioned to all users (a row with no group or policy).
  const scope = [...policies.filter((p) => groupName[p.groupId]),
    ...apps.filter((a) => a.scope === 'all_users').map((a) => ({ appId: a.id, groupId: null, name: 'Every user' }))];
  const onDemand = h('section', { 'aria-live': 'polite', 'aria-label': 'Provision on demand' });
  const provisionNow = async (appId) => {
    const { body } = await call('POST', `/admin/apps/${enc(appId)}/provision`, { userId: id });
    onDemand.replaceChildren(...shownOnDemand(appName[appId], body));
  };
  document.title = `${u.userName} · Provisio`;
  const status = h('div', { role: 'status' });
  const act = async (what, fn) => {
    try { await fn(); } catch (err) { status.replaceChildren(h('div', { class: 'alert' }, `${what}: ${err.message}`)); }
  };
  const toggle = h('button', { type: 'button', class: 'secondary', onclick: () => act(u.active ? 'Deactivate' : 'Activate', async () => {
    await call('PATCH', `/admin/users/${enc(id)}`, { active: !u.active }, { 'if-match': reply.etag });
    await userPage(_params, id);
  }) }, u.active ? 'Deactivate' : 'Activate');
  const remove = h('button', { type: 'button', class: 'danger', onclick: () => act('Delete', async () => {
    if (!window.confirm(`Delete ${u.userName}? Apps that provisioned this user are told to delete the account.`)) return;
    await call('DELETE', `/admin/users/${enc(id)}`, undefined, { 'if-match': reply.etag });
    location.hash = '#/users';
  }) }, 'Delete');
  const props = [
    ['userName', u.userName], ['Email', u.email], ['Given name', u.givenName], ['Family name', u.familyName],
    ['Display name', u.displayName], ['Status', u.active ? 'active' : 'inactive'],
    ['External id', u.externalId], ['Source app', u.sourceAppId], ['Created', u.created], ['Last modified', u.lastModified],
  ];
  show(
    h('h1', {}, u.userName),
    status,
    h('div', { class: 'actions' }, h('a', { href: `#/users/${enc(id)}/edit` }, 'Edit'), toggle, remove),
    h('h2', {}, 'Profile'),
    h('dl', { class: 'props' }, props.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, text(v))])),
    h('h2', {}, 'Groups'),
    table(['Group'], groups.map((g) => [h('a', { href: `#/groups/${enc(g.id)}` }, g.name)])),
    h('h2', {}, 'Apps in scope'),
    table(['App', 'Through group', 'Policy', ''], scope.map((p) => [h('a', { href: `#/apps/${enc(p.appId)}` }, appName[p.appId] || p.appId),
      p.groupId ? groupName[p.groupId] : '(all users)', p.name,
      ['custom_provisioning', 'scim_target'].includes(kinds[p.appId]) ? h('button', { type: 'button', class: 'secondary', 'aria-label': `Provision now to ${appName[p.appId]}`,
        onclick: () => act('Provision now', () => provisionNow(p.appId)) }, 'Provision now') : ''])),
    onDemand,
    h('h2', {}, 'Provisioning log'),
    table(['When', 'App', 'Event', 'Outcome', 'HTTP status', 'Detail'], log.items.map((e) => [
      text(e.at), h('a', { href: `#/apps/${enc(e.appId)}` }, appName[e.appId] || e.appId), e.event, e.outcome, text(e.status), text(e.error || e.reason)])),
    h('p', {}, h('a', { href: `#/log?user=${enc(id)}` }, 'All of this user\'s provisioning log')),
  );
}

