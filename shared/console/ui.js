// Small DOM helpers and the one form component every page uses: labelled fields, each with its
// error slot, filled from the API's problem bodies (their `field` names the input).

import { ApiError } from './api.js';

/// An element: h('a', { href: '#/', class: 'x', onclick: fn }, 'text', child, ...).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/// Replaces the page's content and moves focus to it (screen readers announce the new page).
export function show(...children) {
  const main = document.getElementById('main');
  main.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  main.focus();
}

export function table(headers, rows, caption) {
  return h('table', {},
    caption ? h('caption', { class: 'muted' }, caption) : null,
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.length ? rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))
      : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, 'None yet.'))));
}

let ids = 0;

/// A form of `fields` ({ name, label, type, value, required, hint, options, rows }). On submit
/// it calls `onSubmit(values)`; an ApiError naming a field is shown beside that field, any other
/// beside the form's button.
export function form({ title, fields, submit, onSubmit, cls = 'card' }) {
  const inputs = {};
  const errors = {};
  const formId = `f${++ids}`;
  const general = h('div', { class: 'alert', role: 'alert', hidden: true });
  const el = h('form', { class: cls, novalidate: true, 'aria-labelledby': title ? `${formId}-t` : null });
  if (title) el.append(h('h2', { id: `${formId}-t` }, title));
  for (const f of fields) {
    const id = `${formId}-${f.name.replace(/[^A-Za-z0-9]/g, '-')}`;
    const errorId = `${id}-error`;
    const hintId = f.hint ? `${id}-hint` : null;
    let input;
    const common = { id, name: f.name, 'aria-describedby': [hintId, errorId].filter(Boolean).join(' '),
                     required: f.required };
    if (f.type === 'select') {
      input = h('select', common, f.options.map(([v, t]) => h('option', { value: v, selected: v === f.value }, t)));
    } else if (f.type === 'textarea') {
      input = h('textarea', { ...common, rows: f.rows || 8 });
      input.value = f.value ?? '';
    } else if (f.type === 'checkbox') {
      input = h('input', { ...common, type: 'checkbox', checked: !!f.value });
    } else {
      input = h('input', { ...common, type: f.type || 'text', inputmode: f.inputmode, value: f.value ?? '', autocomplete: f.autocomplete || 'off' });
    }
    inputs[f.name] = input;
    errors[f.name] = h('div', { id: errorId, class: 'error' });
    el.append(h('div', { class: f.type === 'checkbox' ? 'field check' : 'field' },
      f.type === 'checkbox' ? [input, h('label', { for: id }, f.label)] : [h('label', { for: id }, f.label), input],
      hintId ? h('div', { id: hintId, class: 'hint' }, f.hint) : null,
      errors[f.name]));
  }
  const button = h('button', { type: 'submit' }, submit || 'Save');
  el.append(general, h('div', { class: 'actions' }, button));
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const [name, slot] of Object.entries(errors)) {
      slot.textContent = '';
      inputs[name].removeAttribute('aria-invalid');
    }
    general.hidden = true;
    const values = {};
    for (const [name, input] of Object.entries(inputs)) {
      values[name] = input.type === 'checkbox' ? input.checked : input.value;
    }
    button.disabled = true;
    try {
      await onSubmit(values);
    } catch (err) {
      const name = err instanceof ApiError && err.field ? fieldFor(err.field, inputs) : null;
      if (name) {
        errors[name].textContent = err.message;
        inputs[name].setAttribute('aria-invalid', 'true');
        inputs[name].focus();
      } else {
        general.textContent = err.message;
        general.hidden = false;
      }
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

/// The input an API field names: exactly, or by its first segment (`request.url` -> `request`).
function fieldFor(field, inputs) {
  if (inputs[field]) return field;
  const first = field.split(/[.[]/)[0];
  return inputs[first] ? first : null;
}

/// Text of an optional value.
export const text = (v) => (v === undefined || v === null || v === '' ? '—' : String(v));

/// A notice that stays until the next page.
export function notice(message) {
  return h('div', { class: 'notice', role: 'status' }, message);
}
