// Targets: scrape pools from /api/v1/targets with health, last error, last scrape and its
// duration. State in the URL: health (up|down|all).

import { ago, clear, errorBox, formatDuration, getJSON, h, labelChips, params, setParams, table } from '../util';
import type { Cleanup } from '../main';

export default function targets(root: HTMLElement): Cleanup {
  const out = h('div', {}, h('p.hint', {}, 'Loading…'));
  const sel = h(
    'select',
    { 'aria-label': 'Health', onchange: (e: Event) => (setParams({ health: (e.target as HTMLSelectElement).value }), load()) },
    ['all', 'up', 'down', 'unknown'].map((f) => h('option', { value: f, selected: f === (params().get('health') || 'all') }, f)),
  );
  clear(root, h('div.toolbar', {}, h('label', {}, 'Health ', sel), h('button', { type: 'button', onclick: () => load() }, 'Refresh')), out);

  async function load() {
    const f = params().get('health') || 'all';
    try {
      const res = await getJSON('/api/v1/targets');
      const ts = (res.data.activeTargets || []).filter((t: any) => f === 'all' || t.health === f);
      const pools = new Map<string, any[]>();
      for (const t of ts) (pools.get(t.scrapePool) || pools.set(t.scrapePool, []).get(t.scrapePool)!).push(t);
      clear(
        out,
        pools.size ? null : h('p.hint.empty', {}, 'No scrape targets. Add scrape_configs to the configuration.'),
        [...pools.entries()].sort().map(([pool, list]) => {
          const up = list.filter((t) => t.health === 'up').length;
          return h('details.group', { open: true },
            h('summary', {}, h('b', {}, pool), ` (${up}/${list.length} up)`),
            table(['Endpoint', 'Health', 'Labels', 'Last scrape', 'Duration', 'Last error'], list.map((t: any) => [
              h('a', { href: t.scrapeUrl, target: '_blank', rel: 'noopener' }, t.scrapeUrl),
              h('span.health', { 'data-health': t.health }, t.health),
              labelChips(t.labels || {}),
              ago(t.lastScrape),
              formatDuration((t.lastScrapeDuration || 0) * 1000),
              t.lastError ? h('span.err', {}, t.lastError) : '',
            ]), 'targets'),
          );
        }),
      );
    } catch (e) {
      clear(out, errorBox(String((e as Error).message)));
    }
  }
  load();
  const timer = setInterval(load, 15_000);
  return () => clearInterval(timer);
}
