// DOM, URL-state, time and fetch helpers shared by every page.

type Child = Node | string | number | null | undefined | false | Child[];
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Attrs = Record<string, string | number | boolean | null | undefined | ((e: any) => unknown)>;

/** Builds an element: `h('a.link', {href}, 'text')`. Attributes starting with `on` are listeners. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K | `${K}.${string}`,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name as K);
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
    else if (k === 'class') el.className += (el.className ? ' ' : '') + String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

export function clear(el: Element, ...children: Child[]) {
  el.replaceChildren();
  append(el, children);
}

/** The current query string as a map. */
export function params(): URLSearchParams {
  return new URLSearchParams(location.search);
}

/** Replaces (or pushes) the query string without reloading: each view keeps its state here. */
export function setParams(values: Record<string, string | null | undefined>, push = false) {
  const p = params();
  for (const [k, v] of Object.entries(values)) {
    if (v === null || v === undefined || v === '') p.delete(k);
    else p.set(k, v);
  }
  const qs = p.toString();
  const url = location.pathname + (qs ? '?' + qs : '');
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

export class ApiError extends Error {}

/** GETs JSON; Prometheus/Loki `{status:"error"}` and HTTP errors become `ApiError`. */
export async function getJSON<T = any>(path: string, query?: Record<string, string | number | undefined>, headers?: Record<string, string>): Promise<T> {
  let url = path;
  if (query) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') p.set(k, String(v));
    url += '?' + p.toString();
  }
  let resp: Response;
  try {
    resp = await fetch(url, { headers });
  } catch (e) {
    throw new ApiError(`cannot reach the server: ${e}`);
  }
  const text = await resp.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    if (!resp.ok) throw new ApiError(`${resp.status} ${resp.statusText}: ${text.trim()}`);
    throw new ApiError(`not JSON from ${path}: ${text.slice(0, 200)}`);
  }
  if (!resp.ok || body?.status === 'error') {
    throw new ApiError(body?.error || body?.message || `${resp.status} ${resp.statusText}`);
  }
  return body as T;
}

// ---- time ----

const UNITS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3, y: 31536000e3 };

/** Parses a Prometheus duration (`1h30m`, `15s`) to milliseconds; NaN when invalid. */
export function parseDuration(s: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let pos = 0;
  const t = s.trim();
  if (!t) return NaN;
  while ((m = re.exec(t))) {
    total += parseFloat(m[1]) * UNITS[m[2]];
    pos = re.lastIndex;
  }
  return pos === t.length ? total : NaN;
}

export function formatDuration(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)}µs`;
  if (ms < 1000) return `${+ms.toFixed(2)}ms`;
  if (ms < 60e3) return `${+(ms / 1000).toFixed(2)}s`;
  const parts: string[] = [];
  for (const [u, n] of [['d', 86400e3], ['h', 3600e3], ['m', 60e3], ['s', 1e3]] as const) {
    if (ms >= n) {
      parts.push(`${Math.floor(ms / n)}${u}`);
      ms %= n;
    }
  }
  return parts.join('');
}

/** Bytes in binary units: `512 B`, `1.5 KiB`, `20 MiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? +n.toFixed(n < 10 ? 2 : 1) : n} ${units[i]}`;
}

export function formatTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function ago(iso: string | undefined): string {
  if (!iso || iso.startsWith('0001-')) return 'never';
  const ms = Date.now() - Date.parse(iso);
  if (!isFinite(ms)) return iso;
  return ms < 1000 ? 'just now' : `${formatDuration(Math.round(ms / 1000) * 1000)} ago`;
}

/** The label set `{a="b", ...}` as Prometheus prints it (`__name__` in front). */
export function formatLabels(labels: Record<string, string>, withName = true): string {
  const name = withName ? labels.__name__ || '' : '';
  const rest = Object.entries(labels)
    .filter(([k]) => k !== '__name__')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ');
  return rest || !name ? `${name}{${rest}}` : name;
}

export function labelChips(labels: Record<string, string>): HTMLElement {
  return h(
    'span.chips',
    {},
    Object.entries(labels)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => h('span.chip', { title: `${k}=${v}` }, h('b', {}, k), '=', v)),
  );
}

export function errorBox(msg: string): HTMLElement {
  return h('div.error', { role: 'alert' }, msg);
}

export function table(head: string[], rows: Child[][], cls = ''): HTMLTableElement {
  return h(
    'table',
    { class: cls || null },
    h('thead', {}, h('tr', {}, head.map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))),
  );
}

/** Hex of a trace/span id that OTLP/JSON may give as hex or base64. */
export function hexId(id: string | undefined): string {
  if (!id) return '';
  if (/^[0-9a-fA-F]+$/.test(id) && (id.length === 16 || id.length === 32)) return id.toLowerCase();
  try {
    return Array.from(atob(id), (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
  } catch {
    return id;
  }
}
