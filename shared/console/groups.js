// Groups: the list and create; a group's page with its members (added with a user picker,
// removed) and its app login policies (group -> app).

import { call, get, orElse } from './api.js';
import { h, show, form, table, text } from './ui.js';
import { userPicker } from './picker.js';

const enc = encodeURIComponent;

export async function groupList() {
  document.title = 'Groups · Provisio';
  const page = await get('/admin/groups?limit=100');
  show(
    h('h1', {}, 'Groups'),
    table(['Name', 'Description'], page.items.map((g) => [h('a', { href: `#/groups/${enc(g.id)}` }, g.name), text(g.description)]), 'Groups, by name'),
    form({
      title: 'Create group',
      fields: [{ name: 'name', label: 'Group name', required: true }, { name: 'description', label: 'Description' }],
      submit: 'Create group',
      onSubmit: async ({ name, description }) => {
        const body = { name: name.trim() };
        if (description.trim()) body.description = description.trim();
        const { body: group } = await call('POST', '/admin/groups', body);
        location.hash = `#/groups/${enc(group.id)}`;
      },
    }),
  );
}

/// Every item of a listing (at most `cap`), page by page.
export async function all(path, cap = 1000) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=100${cursor ? `&cursor=${enc(cursor)}` : ''}`);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && items.length < cap);
  return items;
}

export async function groupPage(_params, id) {
  const reply = await call('GET', `/admin/groups/${enc(id)}`);
  const g = reply.body;
  document.title = `${g.name} · Provisio`;
  const [members, policies, apps] = await Promise.all([
    get(`/admin/groups/${enc(id)}/members?limit=100`),
    all('/admin/policies'),
    all('/admin/apps'),
  ]);
  const users = await Promise.all(members.items.map((m) => get(`/admin/users/${enc(m.userId)}`).catch(orElse({ id: m.userId, userName: m.userId }))));
  const appName = Object.fromEntries(apps.map((a) => [a.id, a.name]));
  const status = h('div', { role: 'status' });
  const again = () => groupPage(_params, id);
  const act = async (fn, refresh = true) => {
    try {
      await fn();
      if (refresh) await again();
    } catch (err) { status.replaceChildren(h('div', { class: 'alert' }, err.message)); }
  };
  const mine = policies.filter((p) => p.groupId === id);
  show(
    h('h1', {}, g.name),
    g.description ? h('p', {}, g.description) : null,
    status,
    h('h2', {}, 'Members'),
    table(['userName', 'Email', ''], users.map((u) => [
      h('a', { href: `#/users/${enc(u.id)}` }, u.userName), text(u.email),
      h('button', { type: 'button', class: 'secondary', 'aria-label': `Remove ${u.userName}`,
        onclick: () => act(() => call('DELETE', `/admin/groups/${enc(id)}/members/${enc(u.id)}`)) }, 'Remove')])),
    members.nextCursor ? h('p', { class: 'muted' }, 'The first 100 members are shown.') : null,
    userPicker({ label: 'Add a member: userName or email', action: 'Add',
      onPick: (u) => act(() => call('PUT', `/admin/groups/${enc(id)}/members/${enc(u.id)}`)) }),
    h('h2', {}, 'App login policies'),
    h('p', { class: 'muted' }, 'Members of this group are in the scope of these apps: they are provisioned to them.'),
    table(['Policy', 'App', 'First factor', ''], mine.map((p) => [p.name, h('a', { href: `#/apps/${enc(p.appId)}` }, appName[p.appId] || p.appId), p.firstFactor,
      h('button', { type: 'button', class: 'secondary', 'aria-label': `Delete policy ${p.name}`,
        onclick: () => act(() => call('DELETE', `/admin/policies/${enc(p.id)}`)) }, 'Delete')])),
    form({
      title: 'Add policy',
      fields: [
        { name: 'appId', label: 'Application', type: 'select', options: [['', 'Choose an app'], ...apps.map((a) => [a.id, a.name])] },
        { name: 'name', label: 'Policy name', required: true },
        { name: 'firstFactor', label: 'First factor', type: 'select', options: [['password', 'Password'], ['passwordless', 'Password-less login (e.g. biometrics)']] },
      ],
      submit: 'Add policy',
      onSubmit: async (v) => {
        await call('POST', '/admin/policies', { name: v.name.trim(), appId: v.appId, groupId: id, firstFactor: v.firstFactor });
        await again();
      },
    }),
    h('h2', {}, 'Delete'),
    h('button', { type: 'button', class: 'danger', onclick: () => act(async () => {
      if (!window.confirm(`Delete the group ${g.name}? Its members leave it (and the apps it gave them).`)) return;
      await call('DELETE', `/admin/groups/${enc(id)}`, undefined, { 'if-match': reply.etag });
      location.hash = '#/groups';
    }, false) }, 'Delete group'),
  );
}
