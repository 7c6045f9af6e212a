// A user picker: a labelled search by userName prefix (or exact email), its results as buttons.

import { get, ignoreSuperseded } from './api.js';
import { h } from './ui.js';

const enc = encodeURIComponent;

/// `onPick(user)` is called with the chosen user; `action` names the button of each result.
export function userPicker({ label, action, onPick }) {
  const id = `picker-${Math.random().toString(36).slice(2, 8)}`;
  const results = h('ul', { class: 'picks', 'aria-live': 'polite', 'aria-label': `${label}: results` });
  const input = h('input', { id, type: 'search', autocomplete: 'off' });
  const search = async () => {
    const q = input.value.trim();
    if (!q) return;
    const query = q.includes('@') ? `email=${enc(q)}` : `userName=${enc(q)}`;
    let page;
    try { page = await get(`/admin/users?${query}&limit=10`); } catch (err) { return ignoreSuperseded(err); }
    results.replaceChildren(...(page.items.length
      ? page.items.map((u) => h('li', {}, `${u.userName} `, h('button', { type: 'button', class: 'secondary',
        'aria-label': `${action} ${u.userName}`, onclick: () => onPick(u) }, action)))
      : [h('li', { class: 'muted' }, 'No user found.')]));
  };
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); search(); } });
  return h('div', { class: 'picker' },
    h('div', { class: 'search' },
      h('div', { class: 'field' }, h('label', { for: id }, label), input),
      h('button', { type: 'button', onclick: search }, 'Find')),
    results);
}
