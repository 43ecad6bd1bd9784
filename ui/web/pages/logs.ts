// Logs: a LogQL editor, a volume histogram by level, newest-first lines with their labels;
// a line expands to its labels and structured metadata, the lines around it on its stream
// (context), and its trace. Live tail polls for newer lines every 2s.
// State in the URL: q, range|start+end, live.

import { chart } from '../chart';
import { editor, text } from '../editor';
import { logql } from '../languages';
import { currentRange, currentStep, rangePicker } from '../timerange';
import { clear, errorBox, formatLabels, formatTime, getJSON, h, labelChips, params, setParams } from '../util';
import type { Cleanup } from '../main';

const LIMIT = 500;
const CATEGORIZE = { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' };

interface Line {
  ns: bigint;
  tsNs: string;
  line: string;
  stream: Record<string, string>;
  meta: Record<string, string>;
  parsed: Record<string, string>;
}

/** The first `{...}` of a LogQL query (strings respected). */
export function streamSelector(q: string): string | null {
  const i = q.indexOf('{');
  if (i < 0) return null;
  let inStr: string | null = null;
  for (let j = i; j < q.length; j++) {
    const c = q[j];
    if (inStr) {
      if (c === '\\' && inStr === '"') j++;
      else if (c === inStr) inStr = null;
    } else if (c === '"' || c === '`') inStr = c;
    else if (c === '}') return q.slice(i, j + 1);
  }
  return null;
}

function selectorOf(labels: Record<string, string>): string {
  return '{' + Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ') + '}';
}

function flatten(data: any): Line[] {
  const out: Line[] = [];
  for (const s of data.result || []) {
    for (const v of s.values) {
      const cat = v[2] || {};
      out.push({ ns: BigInt(v[0]), tsNs: v[0], line: v[1], stream: s.stream, meta: cat.structuredMetadata || {}, parsed: cat.parsed || {} });
    }
  }
  return out.sort((a, b) => (a.ns < b.ns ? 1 : a.ns > b.ns ? -1 : 0));
}

const TRACE_KEYS = ['trace_id', 'traceID', 'traceId', 'traceid'];

/** A trace id carried by the line: structured metadata, labels, JSON or logfmt field. */
export function traceIdOf(l: Line): string | null {
  for (const src of [l.meta, l.parsed, l.stream]) for (const k of TRACE_KEYS) if (src[k]) return src[k];
  const m = /"?(?:trace_id|traceID|traceId|traceid)"?\s*[=:]\s*"?([0-9a-fA-F]{16,32})\b/.exec(l.line);
  return m ? m[1] : null;
}

function nsToMs(ns: bigint): number {
  return Number(ns / 1000000n);
}

export default function logs(root: HTMLElement): Cleanup {
  const p = params();
  let live = p.get('live') === '1';
  let timer: number | undefined;
  let disposeVolume: (() => void) | null = null;
  let newest: bigint = 0n;

  const errors = h('div.errors');
  const volume = h('div.volume');
  const list = h('div.loglines', { role: 'list' });
  const stats = h('span.stats');
  const run = () => {
    setParams({ q: text(ed) || null }, params().get('q') !== text(ed));
    execute();
  };
  const ed = editor({ doc: p.get('q') || '', language: logql(), placeholder: 'LogQL, e.g. {service_name="api"} |= "error"   (Enter runs)', onRun: run, label: 'LogQL query' });
  const liveBtn = h('button.live', { type: 'button', 'aria-pressed': String(live), title: 'Poll for new lines every 2s', onclick: () => {
    live = !live;
    liveBtn.setAttribute('aria-pressed', String(live));
    setParams({ live: live ? '1' : null });
    schedule();
  } }, '● Live');

  clear(
    root,
    h('section.query', {}, h('div.editor-row', {}, ed.dom, h('button.primary', { type: 'button', onclick: run }, 'Run')), errors),
    h('div.toolbar', {}, rangePicker(execute, { step: false }), liveBtn, stats),
    volume,
    list,
  );

  function schedule() {
    clearTimeout(timer);
    if (live) timer = window.setTimeout(tail, 2000);
  }

  async function tail() {
    const q = text(ed);
    if (!q || !live) return;
    try {
      const startNs = newest + 1n;
      const res = await getJSON('/loki/api/v1/query_range', { query: q, start: startNs.toString(), end: (BigInt(Date.now()) * 1000000n).toString(), limit: LIMIT, direction: 'forward' }, CATEGORIZE);
      const lines = flatten(res.data).filter((l) => l.ns > newest);
      if (lines.length) {
        newest = lines[0].ns;
        const first = list.firstChild;
        for (const l of lines) list.insertBefore(row(l, true), first);
        stats.textContent = `${list.children.length} lines (live)`;
      }
    } catch (e) {
      clear(errors, errorBox(String((e as Error).message)));
    }
    schedule();
  }

  async function execute() {
    const q = text(ed);
    clear(errors);
    disposeVolume?.();
    disposeVolume = null;
    clearTimeout(timer);
    if (!q) {
      clear(list, h('p.hint', {}, 'Type a LogQL query, e.g. {service_name="api"}, and press Enter. Press / to focus the editor.'));
      clear(volume);
      return;
    }
    const r = currentRange();
    clear(list, h('p.hint', {}, 'Loading…'));
    const t0 = performance.now();
    try {
      const res = await getJSON('/loki/api/v1/query_range', { query: q, start: `${r.start}000000`, end: `${r.end}000000`, limit: LIMIT, direction: 'backward' }, CATEGORIZE);
      if (res.data.resultType !== 'streams') {
        clear(list, h('p.hint', {}, `This is a metric query (${res.data.resultType}); graph it on the Metrics page of Grafana, or use a log query here.`));
      } else {
        const lines = flatten(res.data);
        newest = lines.length ? lines[0].ns : BigInt(r.end) * 1000000n;
        stats.textContent = `${lines.length}${lines.length >= LIMIT ? '+' : ''} lines · ${Math.round(performance.now() - t0)} ms`;
        clear(list, lines.length ? lines.map((l) => row(l)) : h('p.hint.empty', {}, 'No lines in this range.'));
      }
    } catch (e) {
      clear(list);
      clear(errors, errorBox(String((e as Error).message)));
    }
    drawVolume(q, r.start, r.end);
    schedule();
  }

  async function drawVolume(q: string, start: number, end: number) {
    const sel = streamSelector(q);
    if (!sel) return;
    const step = Math.max(1, currentStep({ start, end, relative: null }) * 2);
    try {
      const res = await getJSON('/loki/api/v1/query_range', { query: `sum by (level) (count_over_time(${sel}[${step}s]))`, start: `${start}000000`, end: `${end}000000`, step: `${step}` });
      const n = Math.floor((end - start) / 1000 / step) + 1;
      const s0 = start / 1000;
      const times = Array.from({ length: n }, (_, i) => s0 + i * step);
      const series = (res.data.result || []).map((s: any) => {
        const vals = new Array<number | null>(n).fill(null);
        for (const [t, v] of s.values) {
          const i = Math.round((t - s0) / step);
          if (i >= 0 && i < n) vals[i] = parseFloat(v);
        }
        return { label: s.metric.level || formatLabels(s.metric) || 'lines', values: vals };
      });
      clear(volume);
      if (series.length) disposeVolume = chart(volume, { times, series, bars: true, stacked: true, height: 120 }).dispose;
    } catch {
      clear(volume);
    }
  }

  function row(l: Line, fresh = false): HTMLElement {
    const details = h('div.details', { hidden: true });
    const tid = traceIdOf(l);
    const el = h(
      'div.logline',
      { role: 'listitem', class: fresh ? 'fresh' : null, 'data-ts': l.tsNs },
      h(
        'div.summary',
        { tabindex: 0, onclick: () => toggle(), onkeydown: (e: KeyboardEvent) => e.key === 'Enter' && toggle() },
        h('time', {}, formatTime(nsToMs(l.ns))),
        h('span.level', { 'data-level': (l.stream.level || l.meta.level || l.parsed.level || '').toLowerCase() }),
        labelChips(l.stream),
        h('span.text', {}, l.line),
        tid ? h('a.tracelink', { href: `/traces/${tid}`, title: 'Open the trace', onclick: (e: Event) => e.stopPropagation() }, 'trace ↗') : null,
      ),
      details,
    );
    function toggle() {
      details.hidden = !details.hidden;
      if (!details.hidden && !details.firstChild) {
        const ctx = h('div.context');
        clear(
          details,
          h('h4', {}, 'Stream labels'),
          labelChips(l.stream),
          Object.keys(l.meta).length ? [h('h4', {}, 'Structured metadata'), labelChips(l.meta)] : null,
          Object.keys(l.parsed).length ? [h('h4', {}, 'Parsed fields'), labelChips(l.parsed)] : null,
          h('div.actions', {}, h('button', { type: 'button', class: 'ctxbtn', onclick: () => context(l, ctx) }, 'Show context'), tid ? h('a', { href: `/traces/${tid}` }, `Trace ${tid}`) : null),
          ctx,
        );
      }
    }
    return el;
  }

  async function context(l: Line, out: HTMLElement) {
    const sel = selectorOf(l.stream);
    clear(out, h('p.hint', {}, 'Loading context…'));
    try {
      const [before, after] = await Promise.all([
        getJSON('/loki/api/v1/query_range', { query: sel, start: (l.ns - 3600n * 1000000000n).toString(), end: l.ns.toString(), limit: 10, direction: 'backward' }),
        getJSON('/loki/api/v1/query_range', { query: sel, start: (l.ns + 1n).toString(), end: (l.ns + 3600n * 1000000000n).toString(), limit: 10, direction: 'forward' }),
      ]);
      const all = [...flatten(after.data), l, ...flatten(before.data).filter((x) => x.ns !== l.ns || x.line !== l.line)];
      clear(
        out,
        h('h4', {}, `Context on ${sel}`),
        all.map((x) => h('div.ctxline', { class: x === l ? 'current' : null }, h('time', {}, formatTime(nsToMs(x.ns))), ' ', x.line)),
      );
    } catch (e) {
      clear(out, errorBox(String((e as Error).message)));
    }
  }

  execute();
  return () => {
    clearTimeout(timer);
    live = false;
    disposeVolume?.();
  };
}
