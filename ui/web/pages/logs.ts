// Logs: a LogQL editor, a volume histogram by level, newest-first lines with their labels;
// a line expands to its labels and structured metadata, the lines around it on its stream
// (context), and its trace. Live tail follows new lines over Loki's /loki/api/v1/tail
// WebSocket, and polls query_range every 2s when the socket cannot be used. Like every
// request of the UI, the socket carries no X-Scope-OrgID: the server's default tenant, or
// whatever a proxy in front adds (to the upgrade request as to any other).
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

/** Lines of a tail message (`{"streams":[{"stream":{...},"values":[["<ns>","<line>"],...]}]}`). */
function flattenTail(msg: any): Line[] {
  const out: Line[] = [];
  for (const s of msg?.streams || []) {
    for (const v of s.values || []) {
      const meta = v[2] && typeof v[2] === 'object' ? v[2] : {};
      out.push({ ns: BigInt(v[0]), tsNs: v[0], line: v[1], stream: s.stream || {}, meta, parsed: {} });
    }
  }
  return out;
}

function nsToMs(ns: bigint): number {
  return Number(ns / 1000000n);
}

export default function logs(root: HTMLElement): Cleanup {
  const p = params();
  let live = p.get('live') === '1';
  let timer: number | undefined;
  let socket: WebSocket | null = null;
  // Once the socket failed, live tail polls for the rest of the page's life.
  let socketFailed = false;
  // Whether the shown answer is lines (a metric query has nothing to tail).
  let showsLines = false;
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
  const liveBtn = h('button.live', { type: 'button', 'aria-pressed': String(live), title: 'Follow new lines as they arrive', onclick: () => {
    live = !live;
    liveBtn.setAttribute('aria-pressed', String(live));
    setParams({ live: live ? '1' : null });
    startTail();
  } }, '● Live');

  clear(
    root,
    h('section.query', {}, h('div.editor-row', {}, ed.dom, h('button.primary', { type: 'button', onclick: run }, 'Run')), errors),
    h('div.toolbar', {}, rangePicker(execute, { step: false }), liveBtn, stats),
    volume,
    list,
  );

  /** Puts lines newer than the newest shown on top, newest first. */
  function prepend(lines: Line[]) {
    const fresh = lines.filter((l) => l.ns > newest).sort((a, b) => (a.ns < b.ns ? 1 : a.ns > b.ns ? -1 : 0));
    if (!fresh.length) return;
    newest = fresh[0].ns;
    list.querySelector(':scope > p.hint')?.remove();
    const first = list.firstChild;
    for (const l of fresh) list.insertBefore(row(l, true), first);
    stats.textContent = `${list.querySelectorAll(':scope > .logline').length} lines (live)`;
  }

  function stopTail() {
    clearTimeout(timer);
    const s = socket;
    socket = null;
    if (s) {
      s.onclose = s.onerror = s.onmessage = null;
      s.close();
    }
  }

  /** Follows the query's new lines over the tail WebSocket, or by polling when it failed. */
  function startTail() {
    stopTail();
    const q = text(ed);
    if (!live || !q || !showsLines) return;
    if (socketFailed || typeof WebSocket !== 'function') return schedule();
    const url = new URL('/loki/api/v1/tail', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = new URLSearchParams({ query: q, start: (newest + 1n).toString(), limit: String(LIMIT) }).toString();
    const ws = new WebSocket(url);
    socket = ws;
    ws.onopen = () => (liveBtn.dataset.via = 'websocket');
    ws.onmessage = (ev) => {
      let msg: any;
      try {
        msg = JSON.parse(String(ev.data));
      } catch {
        // The server sends an error as plain text, then closes.
        clear(errors, errorBox(`live tail: ${ev.data}`));
        return;
      }
      prepend(flattenTail(msg));
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      socketFailed = true;
      schedule();
    };
  }

  function schedule() {
    clearTimeout(timer);
    if (live) {
      liveBtn.dataset.via = 'polling';
      timer = window.setTimeout(poll, 2000);
    }
  }

  async function poll() {
    const q = text(ed);
    if (!q || !live) return;
    try {
      const startNs = newest + 1n;
      const res = await getJSON('/loki/api/v1/query_range', { query: q, start: startNs.toString(), end: (BigInt(Date.now()) * 1000000n).toString(), limit: LIMIT, direction: 'forward' }, CATEGORIZE);
      prepend(flatten(res.data));
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
    stopTail();
    if (!q) {
      clear(list, h('p.hint', {}, 'Type a LogQL query, e.g. {service_name="api"}, and press Enter. Press / to focus the editor.'));
      clear(volume);
      return;
    }
    const r = currentRange();
    showsLines = false;
    clear(list, h('p.hint', {}, 'Loading…'));
    const t0 = performance.now();
    try {
      const res = await getJSON('/loki/api/v1/query_range', { query: q, start: `${r.start}000000`, end: `${r.end}000000`, limit: LIMIT, direction: 'backward' }, CATEGORIZE);
      if (res.data.resultType !== 'streams') {
        clear(list, h('p.hint', {}, `This is a metric query (${res.data.resultType}); graph it on the Metrics page of Grafana, or use a log query here.`));
      } else {
        const lines = flatten(res.data);
        showsLines = true;
        newest = lines.length ? lines[0].ns : BigInt(r.end) * 1000000n;
        stats.textContent = `${lines.length}${lines.length >= LIMIT ? '+' : ''} lines · ${Math.round(performance.now() - t0)} ms`;
        clear(list, lines.length ? lines.map((l) => row(l)) : h('p.hint.empty', {}, 'No lines in this range.'));
      }
    } catch (e) {
      clear(list);
      clear(errors, errorBox(String((e as Error).message)));
    }
    drawVolume(q, r.start, r.end);
    startTail();
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
    live = false;
    stopTail();
    disposeVolume?.();
  };
}
