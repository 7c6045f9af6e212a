// The dashboard: the directory's size and what needs an administrator's eye (deprovisions held
// by a deletion threshold, failures of the last 24 hours, dead-lettered messages, imports running
// or just run).

import { get } from './api.js';
import { h, show, table, text } from './ui.js';
import { all } from './groups.js';

const enc = encodeURIComponent;
const DAY_MS = 24 * 3600 * 1000;
/// Apps looked at for failures and imports (two requests each).
const APPS_SHOWN = 20;

function card(label, figure, key, link) {
  return h('div', {}, h('div', { class: 'muted' }, label), h('div', { class: 'figure', 'data-figure': key }, figure), link);
}

export async function dashboard() {
  document.title = 'Dashboard · Provisio';
  const [s, apps] = await Promise.all([get('/admin/summary'), all('/admin/apps', 200)]);
  const count = (c) => (c.more ? `${c.count}+` : String(c.count));
  const custom = apps.filter((a) => a.kind === 'custom_provisioning').slice(0, APPS_SHOWN);
  const since = Date.now() - DAY_MS;
  const perApp = await Promise.all(custom.map(async (app) => {
    const [log, jobs] = await Promise.all([
      get(`/admin/apps/${enc(app.id)}/provisioning-log?limit=100`),
      get(`/admin/apps/${enc(app.id)}/jobs?limit=5`),
    ]);
    const recent = log.items.filter((e) => Date.parse(e.at) >= since);
    // A full page still inside the window: there may be more.
    const more = log.nextCursor && recent.length === log.items.length;
    return { app, failed: recent.filter((e) => e.outcome === 'failed').length, more, jobs: jobs.items };
  }));
  const failed = perApp.reduce((n, a) => n + a.failed, 0);
  const failedMore = perApp.some((a) => a.more);
  const imports = perApp.flatMap((a) => a.jobs.map((j) => ({ ...j, appName: a.app.name })))
    .sort((x, y) => (x.startedAt < y.startedAt ? 1 : -1)).slice(0, 10);
  const names = Object.fromEntries(apps.map((a) => [a.id, a.name]));
  show(
    h('h1', {}, 'Dashboard'),
    s.held.length ? h('section', { class: 'card held', 'aria-labelledby': 'held-title' },
      h('h2', { id: 'held-title' }, 'Deprovisions held for your approval'),
      table(['App', 'Held since', 'Why'], s.held.map((a) => [
        h('a', { href: `#/apps/${enc(a.appId)}` }, names[a.appId] || a.appId), a.heldSince, text(a.reason)]))) : null,
    h('div', { class: 'cards' },
      card('Users', count(s.users), 'users', h('a', { href: '#/users' }, 'Users')),
      card('Groups', count(s.groups), 'groups', h('a', { href: '#/groups' }, 'Groups')),
      card('Apps', count(s.apps), 'apps', h('a', { href: '#/apps' }, 'Apps')),
      card('Apps holding deprovisions', String(s.held.length), 'held', h('a', { href: '#/apps' }, 'Apps')),
      card('Apps quarantined (calls kept failing)', String(s.quarantined.length), 'quarantined', h('a', { href: '#/log?outcome=retrying' }, 'Provisioning log')),
      card('Provisioning failures, last 24 h', `${failed}${failedMore ? '+' : ''}`, 'failures', h('a', { href: '#/log?outcome=failed' }, 'Provisioning log')),
      card('Dead-lettered messages', text(s.deadLetters), 'dead-letters', h('a', { href: '#/log' }, 'Redrive'))),
    h('h2', {}, 'Imports'),
    table(['App', 'Started', 'Status', 'Created', 'Updated', 'Failed', ''], imports.map((j) => [j.appName, j.startedAt,
      j.dryRun ? `${j.status} (dry run)` : j.status, text(j.created), text(j.updated), text(j.failed),
      h('a', { href: `#/jobs/${enc(j.id)}`, 'aria-label': `Report of the ${j.appName} import started ${j.startedAt}` }, 'Report')]), 'Running and recent runs'),
    s.quarantined.length ? h('h2', {}, 'Quarantined apps') : null,
    s.quarantined.length ? table(['App', 'Since', 'Next probe'], s.quarantined.map((q) => [
      h('a', { href: `#/apps/${enc(q.appId)}` }, names[q.appId] || q.appId), q.quarantinedSince, new Date(q.quarantinedUntil * 1000).toISOString()])) : null,
    h('h2', {}, 'Failures by app, last 24 h'),
    table(['App', 'Failed calls'], perApp.filter((a) => a.failed).map((a) => [h('a', { href: `#/log?app=${enc(a.app.id)}&outcome=failed` }, a.app.name), `${a.failed}${a.more ? '+' : ''}`])),
  );
}
