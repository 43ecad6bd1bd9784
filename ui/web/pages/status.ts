// Status: build info, runtime info, flags, the loaded configuration and the metrics
// store's cardinality (/api/v1/status/tsdb). Logs and traces have no storage-stats
// endpoint yet; the page says so.

import { clear, errorBox, getJSON, h, table } from '../util';
import type { Cleanup } from '../main';

export default function status(root: HTMLElement): Cleanup {
  const section = (title: string) => h('section.status', {}, h('h2', {}, title), h('p.hint', {}, 'Loading…'));
  const build = section('Build');
  const runtime = section('Runtime');
  const tsdb = section('Metrics storage (top cardinality)');
  const signals = h('section.status', {}, h('h2', {}, 'Logs and traces storage'),
    h('p.hint', {}, 'No storage statistics endpoint exists yet for the log store or the span store (only /api/v1/status/tsdb for metrics). Per-selector log volume is on the Logs page.'));
  const flags = section('Flags');
  const config = section('Configuration');
  clear(root, h('div.status-grid', {}, build, runtime), tsdb, signals, flags, config);

  const kv = (o: Record<string, unknown>) => table(['Key', 'Value'], Object.entries(o).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]), 'kv');
  const fill = async (el: HTMLElement, title: string, path: string, render: (d: any) => Node | Node[]) => {
    try {
      const res = await getJSON(path);
      clear(el, h('h2', {}, title), render(res.data));
    } catch (e) {
      clear(el, h('h2', {}, title), errorBox(`${path}: ${(e as Error).message}`));
    }
  };
  fill(build, 'Build', '/api/v1/status/buildinfo', kv);
  fill(runtime, 'Runtime', '/api/v1/status/runtimeinfo', kv);
  fill(flags, 'Flags', '/api/v1/status/flags', kv);
  fill(config, 'Configuration', '/api/v1/status/config', (d) => h('pre.config', {}, d.yaml));
  fill(tsdb, 'Metrics storage (top cardinality)', '/api/v1/status/tsdb', (d) => {
    const top = (title: string, rows: { name: string; value: number }[] | undefined) =>
      rows?.length ? h('div.top', {}, h('h3', {}, title), table(['Name', 'Count'], rows.map((r) => [r.name, String(r.value)]), 'kv')) : null;
    return [
      d.headStats ? kv(d.headStats) : h('span'),
      h('div.tops', {},
        top('Series by metric name', d.seriesCountByMetricName),
        top('Values by label name', d.labelValueCountByLabelName),
        top('Memory by label name', d.memoryInBytesByLabelName),
        top('Series by label pair', d.seriesCountByLabelValuePair),
      ),
    ];
  });
}
