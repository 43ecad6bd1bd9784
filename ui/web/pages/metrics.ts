// Metrics: a PromQL editor (completion from this server's /api/v1), a graph of
// /api/v1/query_range with exemplars linked to their traces, and a table of /api/v1/query.
// State in the URL: expr, tab, range|start+end, step, stacked.

import { PromQLExtension } from '@prometheus-io/codemirror-promql';
import { chart, fmtValue } from '../chart';
import { editor, text } from '../editor';
import { currentRange, currentStep, rangePicker } from '../timerange';
import { clear, errorBox, formatLabels, formatTime, getJSON, h, params, setParams, table } from '../util';
import type { Cleanup } from '../main';

const promql = new PromQLExtension().setComplete({ remote: { url: location.origin, httpMethod: 'GET', cache: { maxAge: 60_000 } } });

interface Matrix {
  resultType: 'matrix';
  result: { metric: Record<string, string>; values: [number, string][] }[];
}

interface ExemplarSet {
  seriesLabels: Record<string, string>;
  exemplars: { labels: Record<string, string>; value: string; timestamp: number }[];
}

export default function metrics(root: HTMLElement): Cleanup {
  const p = params();
  let tab = p.get('tab') === 'table' ? 'table' : 'graph';
  let stacked = p.get('stacked') === '1';
  let dispose: (() => void) | null = null;

  const errors = h('div.errors');
  const out = h('div.output');
  const stats = h('span.stats');
  const run = () => {
    setParams({ expr: text(ed) || null }, params().get('expr') !== text(ed));
    execute();
  };
  const ed = editor({ doc: p.get('expr') || '', language: promql.asExtension(), placeholder: 'PromQL expression, e.g. rate(http_requests_total[5m])   (Enter or Ctrl+Enter runs)', onRun: run, label: 'PromQL expression' });
  const tabBtn = (name: string, label: string) =>
    h('button.tab', {
      type: 'button',
      'aria-pressed': String(tab === name),
      'data-tab': name,
      onclick: () => {
        tab = name;
        setParams({ tab: name === 'graph' ? null : name }, true);
        for (const b of root.querySelectorAll<HTMLElement>('.tab')) b.setAttribute('aria-pressed', String(b.dataset.tab === tab));
        execute();
      },
    }, label);
  const stackBox = h('input', { type: 'checkbox', checked: stacked, onchange: (e: Event) => {
    stacked = (e.target as HTMLInputElement).checked;
    setParams({ stacked: stacked ? '1' : null });
    execute();
  } });

  clear(
    root,
    h('section.query', {}, h('div.editor-row', {}, ed.dom, h('button.primary', { type: 'button', onclick: run, title: 'Run (Ctrl+Enter)' }, 'Run')), errors),
    h('div.toolbar', {}, tabBtn('graph', 'Graph'), tabBtn('table', 'Table'), rangePicker(execute), h('label', {}, stackBox, ' stacked'), stats),
    out,
  );

  async function execute() {
    const expr = text(ed);
    dispose?.();
    dispose = null;
    clear(errors);
    if (!expr) {
      clear(out, h('p.hint', {}, 'Type a PromQL expression and press Enter. Press / to focus the editor.'));
      return;
    }
    const r = currentRange();
    clear(out, h('p.hint', {}, 'Loading…'));
    const t0 = performance.now();
    try {
      if (tab === 'table') {
        const res = await getJSON('/api/v1/query', { query: expr, time: (r.end / 1000).toFixed(3) });
        stats.textContent = `${Math.round(performance.now() - t0)} ms`;
        clear(out, resultTable(res.data));
      } else {
        const step = currentStep(r);
        const q = { query: expr, start: (r.start / 1000).toFixed(3), end: (r.end / 1000).toFixed(3), step: String(step) };
        const [res, ex] = await Promise.all([
          getJSON<{ data: Matrix | { resultType: string; result: unknown } }>('/api/v1/query_range', q),
          getJSON<{ data: ExemplarSet[] }>('/api/v1/query_exemplars', { query: expr, start: q.start, end: q.end }).catch(() => ({ data: [] as ExemplarSet[] })),
        ]);
        stats.textContent = `${Math.round(performance.now() - t0)} ms · step ${step}s`;
        dispose = graph(out, res.data as Matrix, ex.data || [], r.start / 1000, r.end / 1000, step, stacked);
        performance.mark('lookout-first-graph');
      }
    } catch (e) {
      clear(out);
      stats.textContent = '';
      errors.append(errorBox(String((e as Error).message)));
    }
  }

  execute();
  return () => dispose?.();
}

function graph(out: HTMLElement, m: Matrix, exemplars: ExemplarSet[], start: number, end: number, step: number, stacked: boolean): () => void {
  if (m.resultType !== 'matrix') {
    clear(out, errorBox(`unexpected result type ${m.resultType}`));
    return () => {};
  }
  if (!m.result.length) {
    clear(out, h('p.hint.empty', {}, 'No data in this range.'));
    return () => {};
  }
  const n = Math.floor((end - start) / step) + 1;
  const times = Array.from({ length: n }, (_, i) => start + i * step);
  const series = m.result.map((s) => {
    const vals = new Array<number | null>(n).fill(null);
    for (const [t, v] of s.values) {
      const i = Math.round((t - start) / step);
      if (i >= 0 && i < n) vals[i] = parseFloat(v);
    }
    return { label: formatLabels(s.metric), values: vals };
  });
  const host = h('div.graph');
  const layer = h('div.exemplars');
  const exList = exemplars.flatMap((set) => set.exemplars.map((e) => ({ ...e, series: set.seriesLabels })));
  clear(out, h('div.graph-wrap', {}, host, layer));
  const { plot, dispose } = chart(host, {
    times,
    series,
    stacked,
    hooks: {
      draw: [
        (u) => {
          // Exemplars as links over the plot, so each opens its trace.
          layer.replaceChildren();
          const over = u.over.getBoundingClientRect();
          const wrap = layer.getBoundingClientRect();
          for (const e of exList) {
            const x = u.valToPos(e.timestamp, 'x');
            const y = u.valToPos(parseFloat(e.value), 'y');
            if (!(x >= 0 && x <= u.over.clientWidth && y >= 0 && y <= u.over.clientHeight)) continue;
            const tid = e.labels.trace_id || e.labels.traceID || e.labels.traceId;
            const title = `exemplar ${fmtValue(parseFloat(e.value))} at ${formatTime(e.timestamp * 1000)}\n${formatLabels(e.series)}\n${formatLabels(e.labels, false)}`;
            const dot = tid ? h('a.exemplar', { href: `/traces/${tid}`, title, 'data-trace-id': tid }) : h('span.exemplar', { title });
            dot.style.left = `${over.left - wrap.left + x}px`;
            dot.style.top = `${over.top - wrap.top + y}px`;
            layer.append(dot);
          }
        },
      ],
    },
  });
  out.append(h('p.hint', {}, `${series.length} series${exList.length ? ` · ${exList.length} exemplars (diamonds link to their traces)` : ''}`));
  void plot;
  return dispose;
}

function resultTable(data: { resultType: string; result: any }): HTMLElement {
  switch (data.resultType) {
    case 'vector':
      if (!data.result.length) return h('p.hint.empty', {}, 'Empty result.');
      return table(['Series', 'Value'], data.result.map((s: any) => [h('code', {}, formatLabels(s.metric)), s.value ? s.value[1] : s.histogram ? JSON.stringify(s.histogram[1]) : '']), 'result');
    case 'matrix':
      return table(['Series', 'Values'], data.result.map((s: any) => [h('code', {}, formatLabels(s.metric)), s.values.map((v: [number, string]) => `${v[1]} @${v[0]}`).join('\n')]), 'result');
    case 'scalar':
    case 'string':
      return table(['Type', 'Value'], [[data.resultType, data.result[1]]], 'result');
    default:
      return errorBox(`unknown result type ${data.resultType}`);
  }
}
