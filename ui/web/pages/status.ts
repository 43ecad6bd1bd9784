// Status: build info, runtime info, the storage of each signal with its top cardinality
// (metrics /api/v1/status/tsdb, logs /api/v1/status/logs, traces /api/v1/status/traces),
// flags and the loaded configuration.

import { clear, errorBox, formatBytes, formatTime, getJSON, h, table } from '../util';
import type { Cleanup } from '../main';

type Top = { name: string; value: number }[] | undefined;
/** A figure: its key (for tests and links), label and shown value. */
type Figure = [string, string, string];

const count = (n: unknown) => (typeof n === 'number' ? n.toLocaleString('en-US') : '—');
const bytes = (n: unknown) => (typeof n === 'number' ? formatBytes(n) : '—');
const time = (ms: unknown) => (typeof ms === 'number' && ms > 0 ? formatTime(ms) : '—');

function figures(rows: Figure[]): HTMLElement {
  return h('table.kv.figures', {}, h('tbody', {}, rows.map(([key, label, value]) => h('tr', { 'data-key': key }, h('td', {}, label), h('td', {}, value)))));
}

function tops(lists: [string, string, Top][]): HTMLElement {
  return h(
    'div.tops',
    {},
    // A list the endpoint does not give (undefined) is left out; an empty one says so.
    lists.filter(([, , rows]) => rows !== undefined).map(([title, unit, rows]) =>
      h('div.top', {}, h('h3', {}, title), rows?.length ? table(['Name', unit], rows.map((r) => [r.name, count(r.value)]), 'kv') : h('p.hint', {}, 'None yet.')),
    ),
  );
}

function metrics(d: any): Node[] {
  const l = d.lookout || {};
  return [
    figures([
      ['series', 'Head series', count(d.headStats?.numSeries)],
      ['samples', 'Samples (head and blocks)', count(l.total_samples)],
      ['blocks', 'Blocks', count(l.blocks?.length)],
      ['blockBytes', 'Block bytes on disk', bytes(l.block_bytes)],
      ['walBytes', 'WAL bytes', bytes(l.wal_bytes)],
      ['headRange', 'Head time range', `${time(d.headStats?.minTime)} – ${time(d.headStats?.maxTime)}`],
    ]),
    tops([
      ['Series by metric name', 'Series', d.seriesCountByMetricName],
      ['Values by label name', 'Values', d.labelValueCountByLabelName],
      ['Memory by label name', 'Bytes', d.memoryInBytesByLabelName],
      ['Series by label pair', 'Series', d.seriesCountByLabelValuePair],
    ]),
  ];
}

function logs(d: any): Node[] {
  return [
    figures([
      ['streams', 'Streams', count(d.streams)],
      ['lines', 'Lines', count(d.lines)],
      ['headLines', 'Lines not yet committed', count(d.headLines)],
      ['uncompressedBytes', 'Uncompressed bytes', bytes(d.uncompressedBytes)],
      ['compressedBytes', 'Compressed chunk bytes', bytes(d.compressedBytes)],
      ['diskBytes', 'On disk (partitions and WAL)', bytes(d.diskBytes)],
      ['partitions', 'Partitions', count(d.partitions)],
      ['range', 'Time range', `${time(d.minTime)} – ${time(d.maxTime)}`],
    ]),
    tops([
      ['Streams by label name', 'Streams', d.streamCountByLabelName],
      ['Values by label name', 'Values', d.labelValueCountByLabelName],
      ['Streams by label pair', 'Streams', d.streamCountByLabelValuePair],
      ['Lines by stream', 'Lines', d.lineCountByStream],
    ]),
  ];
}

function traces(d: any): Node[] {
  return [
    figures([
      ['spans', 'Spans', count(d.spans)],
      ['headSpans', 'Spans not yet in files', count(d.headSpans)],
      ['files', 'Span files', count(d.files)],
      ['diskBytes', 'On disk (files and WAL)', bytes(d.diskBytes)],
      ['partitions', 'Partitions', count(d.partitions)],
      ['range', 'Time range (partitions)', `${time(d.minTime)} – ${time(d.maxTime)}`],
    ]),
    tops([
      ['Spans by service', 'Spans', d.spanCountByService],
      ['Spans by name', 'Spans', d.spanCountByName],
    ]),
  ];
}

export default function status(root: HTMLElement): Cleanup {
  const section = (title: string, signal?: string) =>
    h('section.status', { 'data-signal': signal }, h('h2', {}, title), h('p.hint', {}, 'Loading…'));
  const build = section('Build');
  const runtime = section('Runtime');
  const stores: [HTMLElement, string, string, (d: any) => Node[]][] = [
    [section('Metrics storage', 'metrics'), 'Metrics storage', '/api/v1/status/tsdb', metrics],
    [section('Logs storage', 'logs'), 'Logs storage', '/api/v1/status/logs', logs],
    [section('Traces storage', 'traces'), 'Traces storage', '/api/v1/status/traces', traces],
  ];
  const flags = section('Flags');
  const config = section('Configuration');
  clear(root, h('div.status-grid', {}, build, runtime), stores.map(([el]) => el), flags, config);

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
  for (const [el, title, path, render] of stores) fill(el, title, path, render);
  fill(flags, 'Flags', '/api/v1/status/flags', kv);
  fill(config, 'Configuration', '/api/v1/status/config', (d) => h('pre.config', {}, d.yaml));
}
