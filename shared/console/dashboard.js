// The dashboard: the directory's size and what needs an administrator's eye.

import { get } from './api.js';
import { h, show } from './ui.js';

export async function dashboard() {
  document.title = 'Dashboard · Provisio';
  const s = await get('/admin/summary');
  const count = (c) => (c.more ? `${c.count}+` : String(c.count));
  show(
    h('h1', {}, 'Dashboard'),
    h('div', { class: 'cards' },
      h('div', {}, h('div', { class: 'muted' }, 'Users'), h('div', { class: 'figure', 'data-figure': 'users' }, count(s.users)), h('a', { href: '#/users' }, 'Users')),
      h('div', {}, h('div', { class: 'muted' }, 'Groups'), h('div', { class: 'figure', 'data-figure': 'groups' }, count(s.groups))),
      h('div', {}, h('div', { class: 'muted' }, 'Apps'), h('div', { class: 'figure', 'data-figure': 'apps' }, count(s.apps))),
      h('div', {}, h('div', { class: 'muted' }, 'Dead-lettered messages'), h('div', { class: 'figure', 'data-figure': 'dead-letters' }, s.deadLetters ?? '—'))),
  );
}
