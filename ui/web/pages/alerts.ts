// Alerts & rules: active alerts (/api/v1/alerts) with labels and annotations, then every
// rule group (/api/v1/rules) with state, health, last evaluation and last error.
// State in the URL: filter (firing|pending|all).

import { ago, clear, errorBox, formatDuration, getJSON, h, labelChips, params, setParams, table } from '../util';
import type { Cleanup } from '../main';

export default function alerts(root: HTMLElement): Cleanup {
  const filter = params().get('filter') || 'all';
  const active = h('section.alerts', {}, h('h2', {}, 'Active alerts'), h('p.hint', {}, 'Loading…'));
  const groups = h('section.groups', {}, h('h2', {}, 'Rule groups'), h('p.hint', {}, 'Loading…'));
  const sel = h(
    'select',
    { 'aria-label': 'Show alerts', onchange: (e: Event) => (setParams({ filter: (e.target as HTMLSelectElement).value }), load()) },
    ['all', 'firing', 'pending'].map((f) => h('option', { value: f, selected: f === filter }, f)),
  );
  clear(root, h('div.toolbar', {}, h('label', {}, 'Show ', sel), h('button', { type: 'button', onclick: () => load() }, 'Refresh')), active, groups);

  async function load() {
    const f = params().get('filter') || 'all';
    try {
      const res = await getJSON('/api/v1/alerts');
      const list = (res.data.alerts || []).filter((a: any) => f === 'all' || a.state === f);
      clear(
        active,
        h('h2', {}, `Active alerts (${list.length})`),
        list.length
          ? table(['State', 'Alert', 'Labels', 'Annotations', 'Active since', 'Value'], list.map((a: any) => [
              h('span.state', { 'data-state': a.state }, a.state),
              a.labels.alertname || '',
              labelChips(a.labels),
              h('div.annotations', {}, Object.entries(a.annotations || {}).map(([k, v]) => h('div', {}, h('b', {}, k), ': ', String(v)))),
              ago(a.activeAt),
              a.value ?? '',
            ]), 'alerts')
          : h('p.hint.empty', {}, 'No active alerts.'),
      );
    } catch (e) {
      clear(active, h('h2', {}, 'Active alerts'), errorBox(String((e as Error).message)));
    }
    try {
      const res = await getJSON('/api/v1/rules');
      const gs = res.data.groups || [];
      clear(
        groups,
        h('h2', {}, `Rule groups (${gs.length})`),
        gs.length ? null : h('p.hint.empty', {}, 'No rules loaded. Add rule_files to the configuration.'),
        gs.map((g: any) =>
          h('details.group', { open: true },
            h('summary', {}, h('b', {}, g.name), ` · ${g.file || ''} · every ${g.interval}s · last evaluation ${ago(g.lastEvaluation)} (${formatDuration((g.evaluationTime || 0) * 1000)})`),
            table(['Rule', 'Type', 'State', 'Health', 'Query', 'Last evaluation', 'Last error'], (g.rules || []).map((r: any) => [
              h('b', {}, r.name),
              r.type,
              r.type === 'alerting' ? h('span.state', { 'data-state': r.state }, `${r.state}${r.alerts?.length ? ` (${r.alerts.length})` : ''}`) : '',
              h('span.health', { 'data-health': r.health }, r.health),
              h('a', { href: `${r.query?.trim().startsWith('{') || /\|=|\|~|count_over_time\(\{/.test(r.query || '') ? '/logs?q=' : '/graph?expr='}${encodeURIComponent(r.query)}` }, h('code', {}, r.query)),
              ago(r.lastEvaluation),
              r.lastError ? h('span.err', {}, r.lastError) : '',
            ]), 'rules'),
          ),
        ),
      );
    } catch (e) {
      clear(groups, h('h2', {}, 'Rule groups'), errorBox(String((e as Error).message)));
    }
  }
  load();
  const timer = setInterval(load, 15_000);
  return () => clearInterval(timer);
}
