// Traces: search (service, span name, duration bounds or a TraceQL query) on /api/search,
// and one trace (/traces/<id>, from /api/v2/traces/<id>) as a waterfall with span details
// and a link to the trace's logs. State in the URL: service, name, min, max, q, range.

import { editor, text } from '../editor';
import { traceql } from '../languages';
import { currentRange, rangePicker } from '../timerange';
import { clear, errorBox, formatDuration, formatTime, getJSON, h, hexId, params, setParams, table } from '../util';
import type { Cleanup } from '../main';

export default function traces(root: HTMLElement, path: string): Cleanup {
  const id = path.split('/')[2];
  if (id) return trace(root, decodeURIComponent(id));
  return search(root);
}

/** The TraceQL the form stands for (the `q` field wins when set). */
export function formQuery(f: { service: string; name: string; min: string; max: string }): string {
  const conds: string[] = [];
  if (f.service) conds.push(`resource.service.name = ${JSON.stringify(f.service)}`);
  if (f.name) conds.push(`name = ${JSON.stringify(f.name)}`);
  if (f.min) conds.push(`duration >= ${f.min}`);
  if (f.max) conds.push(`duration <= ${f.max}`);
  return `{ ${conds.join(' && ')} }`;
}

function search(root: HTMLElement): Cleanup {
  const p = params();
  const input = (name: string, label: string, ph: string, list?: string) =>
    h('label', {}, label, h('input', { name, placeholder: ph, value: p.get(name) || '', list: list || null }));
  const errors = h('div.errors');
  const out = h('div.results');
  const services = h('datalist', { id: 'services' });
  const run = () => {
    const f = form();
    setParams({ ...f, q: text(ed) || null }, true);
    execute();
  };
  const ed = editor({ doc: p.get('q') || '', language: traceql(), placeholder: 'TraceQL, e.g. { resource.service.name = "api" && duration > 100ms }   (optional; Enter runs)', onRun: run, label: 'TraceQL query' });
  const formEl = h(
    'form.search',
    { onsubmit: (e: Event) => (e.preventDefault(), run()) },
    input('service', 'Service', 'any', 'services'),
    input('name', 'Span name', 'any'),
    input('min', 'Min duration', 'e.g. 100ms'),
    input('max', 'Max duration', 'e.g. 5s'),
    h('button.primary', { type: 'submit' }, 'Search'),
    services,
  );
  const form = () => {
    const v = (n: string) => (formEl.querySelector<HTMLInputElement>(`input[name=${n}]`)!.value || '').trim();
    return { service: v('service'), name: v('name'), min: v('min'), max: v('max') };
  };
  clear(root, h('section.query', {}, formEl, h('div.editor-row', {}, ed.dom), errors), h('div.toolbar', {}, rangePicker(execute, { step: false })), out);
  getJSON('/api/search/tag/service.name/values')
    .then((r) => clear(services, (r.tagValues || []).map((v: string) => h('option', { value: v }))))
    .catch(() => {});

  async function execute() {
    clear(errors);
    const r = currentRange();
    const q = text(ed) || formQuery(form());
    clear(out, h('p.hint', {}, 'Searching…'));
    try {
      const res = await getJSON('/api/search', { q, limit: 50, start: Math.floor(r.start / 1000), end: Math.ceil(r.end / 1000) });
      const rows = (res.traces || []).map((t: any) => [
        h('a', { href: `/traces/${t.traceID}` }, t.traceID),
        t.rootServiceName || '',
        t.rootTraceName || '',
        formatTime(Number(BigInt(t.startTimeUnixNano || '0') / 1000000n)),
        formatDuration(t.durationMs ?? 0),
        String(t.spanSets?.[0]?.matched ?? t.spanSet?.matched ?? ''),
      ]);
      clear(out, rows.length ? table(['Trace', 'Root service', 'Root span', 'Start', 'Duration', 'Matched'], rows, 'traces') : h('p.hint.empty', {}, `No traces match ${q} in this range.`));
    } catch (e) {
      clear(out);
      clear(errors, errorBox(String((e as Error).message)));
    }
  }
  execute();
}

interface Span {
  id: string;
  parent: string;
  name: string;
  service: string;
  start: number; // ns as number (relative precision is enough)
  end: number;
  kind: string;
  status: string;
  attrs: Record<string, string>;
  resource: Record<string, string>;
  events: { time: number; name: string; attrs: Record<string, string> }[];
  depth: number;
}

function anyValue(v: any): string {
  if (!v) return '';
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return String(v.intValue);
  if ('doubleValue' in v) return String(v.doubleValue);
  if ('boolValue' in v) return String(v.boolValue);
  if ('arrayValue' in v) return JSON.stringify((v.arrayValue.values || []).map(anyValue));
  if ('kvlistValue' in v) return JSON.stringify(attrs(v.kvlistValue.values));
  if ('bytesValue' in v) return v.bytesValue;
  return JSON.stringify(v);
}

function attrs(kvs: any[] | undefined): Record<string, string> {
  const o: Record<string, string> = {};
  for (const kv of kvs || []) o[kv.key] = anyValue(kv.value);
  return o;
}

const KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];

function spansOf(body: any): Span[] {
  const batches = body.trace?.resourceSpans || body.trace?.batches || body.batches || [];
  const out: Span[] = [];
  for (const b of batches) {
    const resource = attrs(b.resource?.attributes);
    for (const ss of b.scopeSpans || b.instrumentationLibrarySpans || []) {
      for (const s of ss.spans || []) {
        const kind = typeof s.kind === 'number' ? KINDS[s.kind] : String(s.kind || '').replace('SPAN_KIND_', '').toLowerCase();
        out.push({
          id: hexId(s.spanId),
          parent: hexId(s.parentSpanId),
          name: s.name,
          service: resource['service.name'] || '',
          start: Number(s.startTimeUnixNano),
          end: Number(s.endTimeUnixNano),
          kind,
          status: s.status?.code === 2 || s.status?.code === 'STATUS_CODE_ERROR' ? 'error' : s.status?.code === 1 || s.status?.code === 'STATUS_CODE_OK' ? 'ok' : 'unset',
          attrs: { ...attrs(s.attributes), ...(s.status?.message ? { 'status.message': s.status.message } : {}) },
          resource,
          events: (s.events || []).map((e: any) => ({ time: Number(e.timeUnixNano), name: e.name, attrs: attrs(e.attributes) })),
          depth: 0,
        });
      }
    }
  }
  return out;
}

/** Depth-first order: each span after its parent, siblings by start time. */
export function order(spans: Span[]): Span[] {
  const ids = new Set(spans.map((s) => s.id));
  const children = new Map<string, Span[]>();
  for (const s of spans) {
    const key = s.parent && ids.has(s.parent) ? s.parent : '';
    (children.get(key) || children.set(key, []).get(key)!).push(s);
  }
  for (const c of children.values()) c.sort((a, b) => a.start - b.start);
  const out: Span[] = [];
  const walk = (key: string, depth: number) => {
    for (const s of children.get(key) || []) {
      s.depth = depth;
      out.push(s);
      walk(s.id, depth + 1);
    }
  };
  walk('', 0);
  return out;
}

function trace(root: HTMLElement, id: string): Cleanup {
  const head = h('div.tracehead', {}, h('h2', {}, 'Trace ', h('code', {}, id)));
  const body = h('div.waterfall-wrap', {}, h('p.hint', {}, 'Loading…'));
  clear(root, h('p', {}, h('a', { href: '/traces' }, '← Search traces')), head, body);
  (async () => {
    try {
      const res = await getJSON(`/api/v2/traces/${encodeURIComponent(id)}`);
      const spans = order(spansOf(res));
      if (!spans.length) throw new Error('this trace has no spans');
      const t0 = Math.min(...spans.map((s) => s.start));
      const t1 = Math.max(...spans.map((s) => s.end));
      const total = Math.max(1, t1 - t0);
      const rootSpan = spans[0];
      const servicesSet = [...new Set(spans.map((s) => s.service))];
      const logsQuery = `{service_name=${JSON.stringify(rootSpan.service)}} |= ${JSON.stringify(id)}`;
      head.append(
        h('p.meta', {},
          `${spans.length} spans · ${servicesSet.length} services · ${formatDuration(total / 1e6)} · started ${formatTime(t0 / 1e6)} · `,
          h('a.logslink', { href: `/logs?${new URLSearchParams({ q: logsQuery, start: String(Math.floor(t0 / 1e9) - 300), end: String(Math.ceil(t1 / 1e9) + 300) })}` }, 'Logs of this trace'),
        ),
      );
      const detail = h('div.spandetail', { hidden: true });
      const ticks = h('div.ticks', {}, [0, 0.25, 0.5, 0.75, 1].map((f) => h('span', { style: `left:${f * 100}%` }, formatDuration((total * f) / 1e6))));
      const rows = spans.map((s) =>
        h(
          'div.span',
          { tabindex: 0, role: 'button', 'data-span-id': s.id, class: s.status === 'error' ? 'err' : null, onclick: () => select(s), onkeydown: (e: KeyboardEvent) => e.key === 'Enter' && select(s) },
          h('div.spanname', { style: `padding-left:${s.depth * 14 + 4}px`, title: `${s.service}: ${s.name}` }, h('span.svc', { 'data-svc': String(servicesSet.indexOf(s.service) % 8) }, s.service), ' ', s.name),
          h('div.track', {}, h('div.bar', { 'data-svc': String(servicesSet.indexOf(s.service) % 8), style: `left:${((s.start - t0) / total) * 100}%;width:${Math.max(0.2, ((s.end - s.start) / total) * 100)}%` }), durLabel(s, t0, total)),
        ),
      );
      clear(body, h('div.waterfall', {}, h('div.span.header', {}, h('div.spanname', {}, 'Service & operation'), h('div.track', {}, ticks)), rows), detail);
      function select(s: Span) {
        for (const r of body.querySelectorAll('.span.selected')) r.classList.remove('selected');
        body.querySelector(`[data-span-id="${s.id}"]`)?.classList.add('selected');
        detail.hidden = false;
        const kv = (o: Record<string, string>) => table(['Key', 'Value'], Object.entries(o).sort().map(([k, v]) => [k, v]), 'kv');
        clear(
          detail,
          h('h3', {}, `${s.service}: ${s.name}`),
          h('p.meta', {}, `span ${s.id} · ${s.kind} · status ${s.status} · ${formatDuration((s.end - s.start) / 1e6)} · at +${formatDuration((s.start - t0) / 1e6)}`),
          h('h4', {}, 'Attributes'),
          kv(s.attrs),
          s.events.length ? [h('h4', {}, 'Events'), table(['At', 'Event', 'Attributes'], s.events.map((e) => [`+${formatDuration((e.time - s.start) / 1e6)}`, e.name, JSON.stringify(e.attrs)]), 'kv')] : null,
          h('h4', {}, 'Resource'),
          kv(s.resource),
        );
      }
    } catch (e) {
      clear(body, errorBox(String((e as Error).message)));
    }
  })();
}

/** The duration after the bar, or inside its right end when the bar reaches the edge. */
function durLabel(s: Span, t0: number, total: number): HTMLElement {
  const endPct = ((s.end - t0) / total) * 100;
  const label = h('span.dur', {}, formatDuration((s.end - s.start) / 1e6));
  if (endPct > 85) label.style.right = `${100 - endPct}%`, label.classList.add('inside');
  else label.style.left = `${endPct}%`;
  return label;
}
