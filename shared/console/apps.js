// Apps: the list and "Add app" (Custom provisioning, seed 000; SCIM client, seed 004); an app's
// page: deprovisions held by its deletion threshold (approve, reject), authorization configs,
// event configs, import configs and runs for a custom app; the SCIM
// base URL, token rotation, attribute mapping and delete-on-deactivate for a SCIM client.

import { ApiError, call, get, ignoreSuperseded, orElse } from './api.js';
import { h, show, form, table, text, notice } from './ui.js';
import { nest, pretty } from './forms.js';
import { all } from './groups.js';
import { userPicker } from './picker.js';

const enc = encodeURIComponent;
const KIND_NAMES = { custom_provisioning: 'Custom provisioning', scim_client: 'SCIM client', scim_target: 'SCIM app' };
export const EVENTS = [
  ['user_created', 'User created'], ['user_updated', 'End user updated'], ['user_deactivated', 'User deactivated'],
  ['user_deleted', 'User deleted'], ['member_added', 'Added to a group'], ['member_removed', 'Removed from a group'],
];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => [m, m]);

export async function appList() {
  document.title = 'Apps · Provisio';
  const apps = await all('/admin/apps');
  show(
    h('h1', {}, 'Apps'),
    h('div', { class: 'actions' }, h('a', { href: '#/apps/new' }, 'Add app')),
    table(['Name', 'Type'], apps.map((a) => [h('a', { href: `#/apps/${enc(a.id)}` }, a.name), KIND_NAMES[a.kind] || a.kind]), 'Apps, by name'),
  );
}

/// A secret shown once, with a button that copies it.
function once(label, value) {
  const id = `v-${label.replace(/\W/g, '-').toLowerCase()}`;
  const status = h('span', { role: 'status', class: 'muted' });
  return h('div', { class: 'field' },
    h('span', { id: `${id}-label`, class: 'label' }, label),
    h('code', { id, class: 'secret', 'aria-labelledby': `${id}-label` }, value),
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', 'aria-label': `Copy ${label}`, onclick: async () => {
      await navigator.clipboard.writeText(value);
      status.textContent = `${label} copied.`;
    } }, 'Copy'), status));
}

export async function appNew() {
  document.title = 'Add app · Provisio';
  show(
    h('h1', {}, 'Add app'),
    form({
      fields: [
        { name: 'kind', label: 'Application type', type: 'select', options: [['custom_provisioning', 'Custom provisioning (Provisio calls your app\'s REST API)'], ['scim_client', 'SCIM client (your app pushes users to Provisio over SCIM 2.0)'],
          ['scim_target', 'SCIM app (Provisio provisions users and groups to your app\'s SCIM 2.0 service)']] },
        { name: 'name', label: 'Display application name', required: true },
        { name: 'scimTarget.baseUrl', label: 'SCIM base URL (SCIM apps)', type: 'url', hint: 'Where /Users is, such as https://api.example.com/scim/v2. Its authorization is added next.' },
      ],
      submit: 'Save',
      onSubmit: async ({ kind, name, ...rest }) => {
        const request = { kind, name: name.trim() };
        if (kind === 'scim_target') request.scimTarget = { baseUrl: (rest['scimTarget.baseUrl'] || '').trim() };
        const { body } = await call('POST', '/admin/apps', request);
        if (body.scim) return scimReady(body);
        location.hash = `#/apps/${enc(body.id)}`;
      },
    }),
  );
}

function scimReady(app) {
  show(
    h('h1', {}, app.name),
    h('div', { class: 'notice', role: 'status' }, 'Keep the SCIM base URL and bearer token for your SCIM client: the token is shown only now.'),
    once('SCIM base URL', app.scim.baseUrl),
    once('Bearer token', app.scim.token),
    h('p', {}, h('a', { href: `#/apps/${enc(app.id)}` }, 'Continue to the app')),
  );
}

export async function appPage(_params, id) {
  const reply = await call('GET', `/admin/apps/${enc(id)}`);
  const app = reply.body;
  document.title = `${app.name} · Provisio`;
  const heading = [h('h1', {}, app.name), h('p', { class: 'muted' }, KIND_NAMES[app.kind] || app.kind)];
  if (app.kind === 'scim_client') return scimApp(app, reply.etag, heading);
  if (app.kind === 'scim_target') return targetApp(app, reply.etag, heading);
  const [auths, events, imports, jobs, held] = await Promise.all([
    get(`/admin/apps/${enc(id)}/auth-configs`),
    get(`/admin/apps/${enc(id)}/event-configs`),
    get(`/admin/apps/${enc(id)}/import-configs`),
    get(`/admin/apps/${enc(id)}/jobs?limit=10`).catch(orElse({ items: [] })),
    get(`/admin/apps/${enc(id)}/held-deprovisions?limit=50`),
  ]);
  const configured = Object.fromEntries(events.items.map((e) => [e.kind, e]));
  const status = h('div', { role: 'status' });
  const run = async (importId, dryRun) => {
    try {
      const { body } = await call('POST', `/admin/apps/${enc(id)}/import-configs/${enc(importId)}/runs`, { dryRun });
      location.hash = `#/jobs/${enc(body.id)}`;
    } catch (err) { status.replaceChildren(h('div', { class: 'alert' }, err.message)); }
  };
  const threshold = app.deletionThreshold;
  show(
    ...heading,
    status,
    heldSection(app, held),
    h('h2', {}, 'Authorization'),
    table(['Name', 'Type', 'Secret'], auths.items.map((a) => [a.name, a.type, a.secretSet ? 'set' : 'not set'])),
    h('p', {}, h('a', { href: `#/apps/${enc(id)}/auth/new` }, 'Add configuration')),
    auths.items.length ? connectionTest(id, auths.items) : null,
    h('h2', {}, 'Provisio to external app: events'),
    table(['Event', 'Request', 'Provisioning', ''], EVENTS.map(([kind, label]) => {
      const e = configured[kind];
      return [label, e ? `${e.request.method} ${e.request.url}` : 'not configured', e ? (e.enabled ? 'on' : 'off') : '—',
        h('a', { href: `#/apps/${enc(id)}/events/${kind}`, 'aria-label': `${e ? 'Edit' : 'Add'} ${label}` }, e ? 'Edit' : 'Add')];
    })),
    h('h2', {}, 'External app to Provisio: user import'),
    table(['Name', 'Request', ''], imports.items.map((c) => [c.name, `${c.request.method} ${c.request.url}`,
      h('span', { class: 'actions' },
        h('button', { type: 'button', 'aria-label': `Import users with ${c.name}`, onclick: () => run(c.id, false) }, 'Import users'),
        h('button', { type: 'button', class: 'secondary', 'aria-label': `Dry run of ${c.name}`, onclick: () => run(c.id, true) }, 'Dry run'))])),
    h('p', {}, h('a', { href: `#/apps/${enc(id)}/imports/new` }, 'Add import configuration')),
    h('h2', {}, 'Bulk operations report'),
    table(['Started', 'Status', 'Created', 'Updated', 'Failed', ''], jobs.items.map((j) => [text(j.startedAt), j.dryRun ? `${j.status} (dry run)` : j.status,
      text(j.created), text(j.updated), text(j.failed), h('a', { href: `#/jobs/${enc(j.id)}` }, 'Report')])),
    settingsForm(app, reply.etag, [
      { name: 'scope', label: 'Who is provisioned', type: 'select', value: app.scope || 'assigned',
        options: [['assigned', 'The members of its policies\' groups'], ['all_users', 'Every user of the directory']],
        hint: 'A change looks at every user again: those who entered get accounts, those who left are deprovisioned.' },
      { name: 'deprovision', label: 'When a user leaves the app\'s scope', type: 'select', value: app.deprovision,
        options: [['deactivate', 'Deactivate the account (user deactivated event)'], ['delete', 'Delete the account (user deleted event)']] },
      { name: 'deletionThreshold.enabled', label: 'Hold mass deprovisions for my approval (deletion threshold)', type: 'checkbox', value: threshold.enabled },
      { name: 'deletionThreshold.maxDeprovisions', label: 'Deprovisions sent per window before the rest are held', inputmode: 'numeric', value: threshold.maxDeprovisions,
        hint: 'A single change (a policy deleted) that takes more users than this out of scope is held whole.' },
      { name: 'deletionThreshold.windowMinutes', label: 'Window, in minutes', inputmode: 'numeric', value: threshold.windowMinutes },
      { name: 'rateLimit', label: 'Calls a second at most (empty: no limit)', inputmode: 'numeric', value: app.rateLimit ?? '' },
    ]),
    h('p', {}, h('a', { href: `#/log?app=${enc(id)}` }, 'Provisioning log of this app')),
    h('h2', {}, 'Full reconcile'),
    h('p', { class: 'muted' }, 'Every user is looked at again for this app and sent what the directory says (after a template change, or to repair drift).'),
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: async () => {
      try {
        await call('POST', `/admin/apps/${enc(id)}/reconcile`, {});
        status.replaceChildren(notice('Full reconcile started: the provisioning log shows what each user came to.'));
      } catch (err) { status.replaceChildren(h('div', { class: 'alert' }, err.message)); }
    } }, 'Reconcile all users')),
  );
}

/// "Test connection": a token fetch, or a call to one of the app's own origins.
function connectionTest(appId, auths) {
  const result = h('div', { role: 'status' });
  const el = form({
    title: 'Test connection',
    cls: 'card',
    fields: [
      { name: 'authId', label: 'Authorization to test', type: 'select', options: auths.map((a) => [a.id, `${a.name} (${a.type})`]) },
      { name: 'url', label: 'Call this URL with it (optional for OAuth 2.0 and custom: a token is fetched)',
        hint: 'Only an origin this app\'s event or import configs send to.' },
    ],
    submit: 'Test',
    onSubmit: async (v) => {
      const { body } = await call('POST', `/admin/apps/${enc(appId)}/auth-configs/${enc(v.authId)}/test`, v.url.trim() ? { url: v.url.trim() } : {});
      result.replaceChildren(h('div', { class: body.ok ? 'notice' : 'alert' },
        `${body.ok ? 'Connected' : 'Not connected'}: ${body.tried}${body.status ? `, HTTP ${body.status}` : ''}, ${body.latencyMs} ms${body.detail ? `. ${body.detail}` : ''}`));
    },
  });
  el.append(result);
  return el;
}

/// The deletion threshold's hold: what would be sent, and the decision.
function heldSection(app, held) {
  if (!held.held && !held.count.count) return null;
  const status = h('div', { role: 'status' });
  const decide = async (decision) => {
    try {
      let decided = 0;
      for (let more = true; more;) {
        const { body } = await call('POST', `/admin/apps/${enc(app.id)}/held-deprovisions/${decision}`, {});
        decided += body.decided;
        more = body.remaining && body.decided > 0;
      }
      await appPage(null, app.id);
      document.getElementById('main').prepend(notice(`${decided} held deprovision${decided === 1 ? '' : 's'} ${decision === 'approve' ? 'approved and sent' : 'rejected; the accounts stay'}.`));
    } catch (err) { status.replaceChildren(h('div', { class: 'alert' }, err.message)); }
  };
  const count = held.count.more ? `${held.count.count}+` : String(held.count.count);
  return h('section', { class: 'card held', 'aria-labelledby': 'held-title' },
    h('h2', { id: 'held-title' }, `Deprovisions held: ${count}`),
    h('p', {}, held.held ? `Held since ${held.heldSince}: ${held.reason || 'the deletion threshold was crossed'}. Nothing is sent to the app until you decide.`
      : 'Deprovisions held earlier wait for a decision.'),
    table(['User', 'Would send', 'Held at'], held.items.map((i) => [
      h('a', { href: `#/users/${enc(i.userId)}` }, i.userName || i.userId), i.kind === 'user_deleted' ? 'Delete' : 'Deactivate', i.at]),
      held.nextCursor ? `The first ${held.items.length} of ${count}` : 'What would be sent'),
    status,
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => decide('approve') }, `Approve and send ${count}`),
      h('button', { type: 'button', class: 'secondary', onclick: () => decide('reject') }, 'Reject, keep the accounts')));
}

/// Whole numbers of a settings form, as the API takes them.
const NUMBERS = { 'deletionThreshold.maxDeprovisions': 'Deprovisions per window', 'deletionThreshold.windowMinutes': 'The window', rateLimit: 'The rate limit' };

function settingsForm(app, etag, fields) {
  return form({
    title: 'Settings',
    fields,
    submit: 'Save settings',
    onSubmit: async (values) => {
      const noLimit = values.rateLimit !== undefined && String(values.rateLimit).trim() === '';
      if (noLimit) delete values.rateLimit;
      for (const [name, label] of Object.entries(NUMBERS)) {
        if (!(name in values)) continue;
        if (!/^\d+$/.test(String(values[name]).trim())) {
          throw new ApiError(400, { field: name, detail: `${label} must be a whole number` });
        }
        values[name] = Number(values[name]);
      }
      const body = nest(values, ['scimMapping']);
      if (noLimit) body.rateLimit = null;
      // An emptied mapping goes back to the defaults.
      if (typeof values.scimMapping === 'string' && !values.scimMapping.trim()) body.scimMapping = null;
      await call('PATCH', `/admin/apps/${enc(app.id)}`, body, { 'if-match': etag });
      await appPage(null, app.id);
      document.getElementById('main').prepend(notice('Settings saved.'));
    },
  });
}

/// A SCIM app: its service's connection and what the service supports, then the settings every
/// app Provisio provisions to has.
async function targetApp(app, etag, heading) {
  const id = app.id;
  const [auths, held] = await Promise.all([
    get(`/admin/apps/${enc(id)}/auth-configs`),
    get(`/admin/apps/${enc(id)}/held-deprovisions?limit=50`),
  ]);
  const target = app.scimTarget || {};
  const s = target.supports;
  const status = h('div', { role: 'status' });
  const yes = (b) => (b ? 'yes' : 'no');
  const supports = s
    ? h('dl', { class: 'props', 'aria-label': 'What the service supports' }, [['PATCH', yes(s.patch)], ['Filters (accounts it has are found)', yes(s.filter)],
      ['ETags', yes(s.etag)], ['Groups (pushed)', yes(s.groups && s.patch)], ['Checked', s.checkedAt]]
      .flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-supports': k.split(' ')[0].toLowerCase() }, v)]))
    : h('p', { class: 'muted' }, 'Not asked yet: the service wants an authorization. Add one, choose it below and save.');
  const connection = form({
    title: 'Connection',
    cls: 'card',
    fields: [
      { name: 'baseUrl', label: 'SCIM base URL', type: 'url', required: true, value: target.baseUrl },
      { name: 'authId', label: 'Authorization', type: 'select', value: target.authId || '',
        options: [['', 'None'], ...auths.items.map((a) => [a.id, `${a.name} (${a.type})`])] },
    ],
    submit: 'Save connection',
    onSubmit: async ({ baseUrl, authId }) => {
      const scimTarget = { baseUrl: baseUrl.trim() };
      if (authId) scimTarget.authId = authId;
      await call('PATCH', `/admin/apps/${enc(id)}`, { scimTarget }, { 'if-match': etag });
      await appPage(null, id);
      document.getElementById('main').prepend(notice('Connection saved: the service was asked what it supports.'));
    },
  });
  const threshold = app.deletionThreshold;
  show(
    ...heading,
    status,
    heldSection(app, held),
    h('h2', {}, 'What the service supports'),
    supports,
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: async () => {
      try {
        await call('POST', `/admin/apps/${enc(id)}/discover`, {});
        await appPage(null, id);
        document.getElementById('main').prepend(notice('The service was asked again.'));
      } catch (err) { status.replaceChildren(h('div', { class: 'alert' }, err.message)); }
    } }, 'Ask the service again')),
    h('h2', {}, 'Authorization'),
    table(['Name', 'Type', 'Secret'], auths.items.map((a) => [a.name, a.type, a.secretSet ? 'set' : 'not set'])),
    h('p', {}, h('a', { href: `#/apps/${enc(id)}/auth/new` }, 'Add configuration')),
    connection,
    h('p', { class: 'muted' }, 'Users in the app\'s scope (its policies\' groups, or every user) are found by externalId, then userName, and linked, or created; a change is one PATCH of what changed; those groups are pushed with their members.'),
    settingsForm(app, etag, [
      { name: 'scope', label: 'Who is provisioned', type: 'select', value: app.scope || 'assigned',
        options: [['assigned', 'The members of its policies\' groups'], ['all_users', 'Every user of the directory']],
        hint: 'A change looks at every user again: those who entered get accounts, those who left are deprovisioned.' },
      { name: 'deprovision', label: 'When a user leaves the app\'s scope', type: 'select', value: app.deprovision,
        options: [['deactivate', 'Deactivate the account (active: false)'], ['delete', 'Delete the account']] },
      { name: 'deletionThreshold.enabled', label: 'Hold mass deprovisions for my approval (deletion threshold)', type: 'checkbox', value: threshold.enabled },
      { name: 'deletionThreshold.maxDeprovisions', label: 'Deprovisions sent per window before the rest are held', inputmode: 'numeric', value: threshold.maxDeprovisions },
      { name: 'deletionThreshold.windowMinutes', label: 'Window, in minutes', inputmode: 'numeric', value: threshold.windowMinutes },
      { name: 'rateLimit', label: 'Calls a second at most (empty: no limit)', inputmode: 'numeric', value: app.rateLimit ?? '' },
      { name: 'scimMapping', label: 'Attribute mapping (JSON; empty for the defaults)', type: 'textarea', value: pretty(app.scimMapping),
        hint: 'Provisio attributes sent at SCIM paths, on top of the defaults.' },
    ]),
    h('p', {}, h('a', { href: `#/log?app=${enc(id)}` }, 'Provisioning log of this app')),
  );
}

function scimApp(app, etag, heading) {
  const tokenSlot = h('div', {});
  const rotate = form({
    title: 'Rotate the bearer token',
    fields: [{ name: 'overlapHours', label: 'Hours the current token keeps working', type: 'number', value: '24' }],
    submit: 'Issue a new token',
    onSubmit: async ({ overlapHours }) => {
      const hours = Number(overlapHours || 0);
      const { body } = await call('POST', `/admin/apps/${enc(app.id)}/scim/token`, { overlapSeconds: Math.round(hours * 3600) });
      tokenSlot.replaceChildren(h('div', { class: 'notice', role: 'status' }, 'The new token is shown only now.'), once('New bearer token', body.token));
    },
  });
  show(
    ...heading,
    once('SCIM base URL', app.scim.baseUrl),
    tokenSlot,
    rotate,
    settingsForm(app, etag, [
      { name: 'deleteOnDeactivate', label: 'Delete the user when the source deactivates it', type: 'checkbox', value: app.deleteOnDeactivate },
      { name: 'scimMapping', label: 'Attribute mapping (JSON; empty for the defaults)', type: 'textarea', value: pretty(app.scimMapping),
        hint: 'SCIM client attributes to Provisio attributes, for users and groups.' },
    ]),
  );
}

function authFields(type, a = {}) {
  const name = { name: 'name', label: 'Authorization name', required: true, value: a.name };
  const secret = (field, label) => ({ name: field, label, type: 'password', autocomplete: 'new-password',
    hint: a.secretSet ? 'Set; leave empty to keep it.' : null });
  const response = [
    { name: 'response.tokenPath', label: 'Token key in the response', value: a.response?.tokenPath || 'access_token' },
    { name: 'response.expiresInPath', label: 'Expiry key in the response', value: a.response?.expiresInPath },
    { name: 'response.tokenType', label: 'Token type', value: a.response?.tokenType, hint: 'Bearer when empty.' },
  ];
  return {
    basic: [name, { name: 'clientId', label: 'Client ID', required: true, value: a.clientId }, secret('clientSecret', 'Client secret')],
    bearer: [name, secret('token', 'Token')],
    oauth2: [name, { name: 'tokenUrl', label: 'Access token URL', type: 'url', required: true, value: a.tokenUrl },
      { name: 'clientId', label: 'Client ID', required: true, value: a.clientId }, secret('clientSecret', 'Client secret'),
      { name: 'scope', label: 'Scope', value: a.scope }, ...response],
    custom: [name, { name: 'method', label: 'URL method', type: 'select', options: METHODS, value: a.method || 'POST' },
      { name: 'url', label: 'URL', type: 'url', required: true, value: a.url },
      { name: 'headers', label: 'Headers (JSON object, kept secret)', type: 'textarea', rows: 3 },
      { name: 'body', label: 'Body (JSON, kept secret)', type: 'textarea', rows: 4 },
      { name: 'headerName', label: 'Header the token goes in', value: a.headerName, hint: 'Authorization when empty.' }, ...response],
  }[type];
}

export async function authNew(_params, appId) {
  document.title = 'Add authorization · Provisio';
  const slot = h('div', {});
  const typeId = 'auth-type';
  const select = h('select', { id: typeId }, [['basic', 'Basic'], ['bearer', 'Bearer'], ['oauth2', 'OAuth 2.0'], ['custom', 'Custom']].map(([v, t]) => h('option', { value: v }, t)));
  const render = () => {
    const type = select.value;
    slot.replaceChildren(form({
      fields: authFields(type),
      submit: 'Save',
      onSubmit: async (values) => {
        await call('POST', `/admin/apps/${enc(appId)}/auth-configs`, { type, ...nest(values, ['headers', 'body']) });
        location.hash = `#/apps/${enc(appId)}`;
      },
    }));
  };
  select.addEventListener('change', render);
  show(h('h1', {}, 'Add authorization'),
    h('div', { class: 'field' }, h('label', { for: typeId }, 'Authorization type'), select), slot);
  render();
}

export async function eventEdit(_params, appId, kind) {
  const label = (EVENTS.find(([k]) => k === kind) || [kind, kind])[1];
  document.title = `${label} · Provisio`;
  const [auths, events] = await Promise.all([
    get(`/admin/apps/${enc(appId)}/auth-configs`),
    get(`/admin/apps/${enc(appId)}/event-configs`),
  ]);
  const existing = events.items.find((c) => c.kind === kind);
  const e = existing || { enabled: true, request: { method: kind === 'user_created' ? 'POST' : 'PUT', url: '' } };
  const fields = [
    { name: 'request.url', label: 'API endpoint', type: 'url', required: true, value: e.request.url,
      hint: kind === 'user_created' ? null : 'End it with @ExternalUserId to address the account.' },
    { name: 'request.method', label: 'Method', type: 'select', options: METHODS, value: e.request.method },
    { name: 'authId', label: 'Authorization', type: 'select', value: e.authId || '', options: [['', 'None'], ...auths.items.map((a) => [a.id, `${a.name} (${a.type})`])] },
    { name: 'request.headers', label: 'Headers (JSON object)', type: 'textarea', rows: 3, value: pretty(e.request.headers && Object.keys(e.request.headers).length ? e.request.headers : null) },
    { name: 'request.body', label: 'Request body (JSON; @attribute placeholders)', type: 'textarea', rows: 10, value: pretty(e.request.body) },
  ];
  if (kind === 'user_created') {
    fields.push({ name: 'externalIdPath', label: 'Store the user identifier from the response at', value: e.externalIdPath || 'id', hint: 'A dotted path in the response body, such as data.id.' });
  }
  fields.push({ name: 'enabled', label: 'Provisioning on for this event', type: 'checkbox', value: e.enabled });
  const previewOut = h('pre', { class: 'preview', role: 'region', 'aria-live': 'polite', tabindex: '0', 'aria-label': 'Preview of the request' });
  show(
    h('h1', {}, label),
    h('div', { class: 'editor' },
      form({
        fields,
        submit: 'Save',
        onSubmit: async (values) => {
          const body = nest(values, ['request.headers', 'request.body']);
          await call('PUT', `/admin/apps/${enc(appId)}/event-configs/${kind}`, body, existing ? { 'if-match': `W/"${existing.version}"` } : {});
          location.hash = `#/apps/${enc(appId)}`;
        },
      }),
      h('aside', { 'aria-labelledby': 'placeholders-title' },
        h('h2', { id: 'placeholders-title' }, 'Placeholders'),
        h('ul', { class: 'placeholders' }, (events.placeholders[kind] || []).map((p) => h('li', {}, h('code', {}, p)))))),
    h('h2', {}, 'Preview'),
    h('p', { class: 'muted' }, 'The saved request as it would be sent for a user (secrets masked).'),
    userPicker({ label: 'Preview for user', action: 'Preview', onPick: async (u) => {
      try {
        const { body } = await call('POST', `/admin/apps/${enc(appId)}/event-configs/${kind}/preview`, { userId: u.id });
        previewOut.textContent = JSON.stringify(body, null, 2);
      } catch (err) { previewOut.textContent = err.message; }
    } }),
    previewOut,
  );
}

export async function importNew(_params, appId) {
  document.title = 'Add import · Provisio';
  const auths = await get(`/admin/apps/${enc(appId)}/auth-configs`);
  show(
    h('h1', {}, 'Add import configuration'),
    form({
      fields: [
        { name: 'name', label: 'Configuration name', required: true },
        { name: 'request.url', label: 'API endpoint', type: 'url', required: true, hint: 'Put @Pagination where the page key goes.' },
        { name: 'request.method', label: 'Method', type: 'select', options: METHODS, value: 'GET' },
        { name: 'authId', label: 'Authorization', type: 'select', options: [['', 'None'], ...auths.items.map((a) => [a.id, `${a.name} (${a.type})`])] },
        { name: 'usersPath', label: 'Users data primary key', hint: 'Where the list of users is in the response, such as users.data; empty for the whole body.' },
        { name: 'paginated', label: 'Enable pagination', type: 'checkbox', value: true },
        { name: 'pagination.nextPath', label: 'Next page key', hint: 'Empty to number the pages.' },
        { name: 'pagination.startPage', label: 'Start page number', type: 'number' },
        { name: 'mapping.externalId', label: 'External app identifier (attribute)', required: true },
        { name: 'mapping.email', label: 'Primary email (attribute)', required: true },
        { name: 'mapping.userName', label: 'userName (attribute)' },
        { name: 'mapping.givenName', label: 'Given name (attribute)' },
        { name: 'mapping.familyName', label: 'Family name (attribute)' },
        { name: 'mapping.attributes', label: 'More attributes (JSON: Provisio name to attribute)', type: 'textarea', rows: 3 },
        { name: 'deactivateMissing.enabled', label: 'Deactivate users missing from a complete run', type: 'checkbox', value: false,
          hint: 'A user whose account is gone from the source is deactivated, and active again if the account comes back.' },
        { name: 'deactivateMissing.maxDeactivations', label: 'Deactivations a run makes before it holds them for my approval', inputmode: 'numeric', value: '50' },
      ],
      submit: 'Save',
      onSubmit: async (values) => {
        const { paginated, ...rest } = values;
        const body = nest(rest, ['mapping.attributes']);
        const most = body.deactivateMissing.maxDeactivations;
        if (most !== undefined) body.deactivateMissing.maxDeactivations = Number(most);
        if (body.pagination?.startPage) body.pagination.startPage = Number(body.pagination.startPage);
        if (!paginated) delete body.pagination;
        else body.pagination ??= {};
        body.usersPath ??= '';
        await call('POST', `/admin/apps/${enc(appId)}/import-configs`, body);
        location.hash = `#/apps/${enc(appId)}`;
      },
    }),
  );
}

/// A run's bulk-operations report, refreshed while it runs.
export async function jobPage(_params, id) {
  const job = await get(`/admin/jobs/${enc(id)}`);
  document.title = 'Bulk operations report · Provisio';
  const running = job.status === 'running';
  const status = h('div', { role: 'status' });
  const act = async (action) => {
    try {
      await call('POST', `/admin/jobs/${enc(id)}/${action}`, {});
      await jobPage(_params, id);
    } catch (err) { status.replaceChildren(h('div', { class: 'alert' }, err.message)); }
  };
  const resumable = (job.status === 'failed' || job.status === 'cancelled') && job.resumeKey;
  const d = job.deactivation;
  const held = job.status === 'succeeded' && d?.status === 'held';
  show(
    h('h1', {}, 'Bulk operations report'),
    status,
    running ? h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: () => act('cancel') }, 'Cancel the run')) : null,
    resumable ? h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => act('resume') }, `Resume from page ${job.pages + 1}`)) : null,
    held ? h('div', { class: 'alert' }, d.reason,
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => act('approve-deactivations') }, `Approve ${d.missing} deactivation(s)`))) : null,
    h('dl', { class: 'props' }, [['Status', job.dryRun ? `${job.status} (dry run)` : job.status], ['Started', job.startedAt], ['Finished', job.finishedAt],
      ['Pages', job.pages], ['Records seen', job.seen], ['Created', job.created], ['Updated', job.updated], ['Unchanged', job.unchanged],
      ['Failed', job.failed], ['Reason', job.reason],
      ...(d ? [['Missing users', d.status === 'skipped' ? `not deactivated: ${d.reason}` : `${d.missing} (${d.status})`], ['Deactivated', d.deactivated]] : []),
    ].flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-count': k.toLowerCase() }, text(v))])),
    h('h2', {}, 'Failed records'),
    table(['Page', 'Record', 'External id', 'Reason'], (job.failures || []).map((f) => [f.page, f.index, text(f.externalId), f.reason])),
    h('p', {}, h('a', { href: `#/apps/${enc(job.appId)}` }, 'Back to the app')),
  );
  if (running) {
    setTimeout(() => { if (location.hash === `#/jobs/${enc(id)}`) jobPage(_params, id).catch(ignoreSuperseded); }, 1000);
  }
}
