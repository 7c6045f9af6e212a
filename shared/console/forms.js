// Form values to API bodies: dotted names nest (`request.url`), empty text is left out, JSON
// fields are parsed (a parse error is shown beside its field, as the API's own errors are).

import { ApiError } from './api.js';

export function nest(values, json = []) {
  const out = {};
  for (const [name, raw] of Object.entries(values)) {
    let value = raw;
    if (typeof raw === 'string') {
      if (raw.trim() === '') continue;
      value = raw.trim();
      if (json.includes(name)) {
        try { value = JSON.parse(value); } catch (e) {
          throw new ApiError(400, { field: name, detail: `${name}: not valid JSON (${e.message})` });
        }
      }
    }
    const path = name.split('.');
    let at = out;
    for (const key of path.slice(0, -1)) at = at[key] ??= {};
    at[path[path.length - 1]] = value;
  }
  return out;
}

/// A value for a JSON textarea.
export const pretty = (v) => (v === undefined || v === null ? '' : JSON.stringify(v, null, 2));
