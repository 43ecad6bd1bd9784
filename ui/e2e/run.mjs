// Browser test: drives headless Chromium (Debian's /usr/bin/chromium, through playwright-core)
// against a running `lookout serve` that tests/ui.rs has fed with metrics, logs and traces.
//
//   node ui/e2e/run.mjs <base-url> [spec-json]
//
// The spec names what the feeder wrote (see tests/ui.rs); the defaults match it. Screenshots
// go to $LOOKOUT_UI_SCREENSHOTS (default target/ui-screenshots). Prints one JSON line of
// figures (first paint, first graph) and exits non-zero listing every failed check.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = (process.argv[2] || 'http://127.0.0.1:9700').replace(/\/$/, '');
const spec = {
  expr: 'sum by (path) (rate(ui_requests_total[1m]))',
  series: 2,
  traceId: '5b8efff798038103d269b633813fc60c',
  spans: 4,
  logQuery: '{service_name="checkout"}',
  logLines: 6,
  alert: 'CheckoutErrors',
  metric: 'ui_requests_total',
  ...(process.argv[3] ? JSON.parse(process.argv[3]) : {}),
};
const outDir = process.env.LOOKOUT_UI_SCREENSHOTS || 'target/ui-screenshots';
mkdirSync(outDir, { recursive: true });

const failures = [];
const figures = {};
function check(ok, what) {
  if (!ok) failures.push(what);
  console.error(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: 'dark' });
const page = await context.newPage();
page.setDefaultTimeout(15_000);
const consoleErrors = [];
page.on('console', (m) => m.type() === 'error' && consoleErrors.push(`${page.url()}: ${m.text()}`));
page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: ${e.message}`));

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    check(false, `${name}: ${e.message.split('\n')[0]}`);
    await page.screenshot({ path: join(outDir, `failed-${name.replace(/\W+/g, '-')}.png`), fullPage: true }).catch(() => {});
  }
}

/** A screenshot, checked to be a real picture: non-trivial size and pixel variance. */
async function shot(name, opts = {}) {
  const png = await page.screenshot({ fullPage: !opts.clip, ...opts });
  writeFileSync(join(outDir, `${name}.png`), png);
  const stddev = await pixelStddev(png);
  check(png.length > 8_000 && stddev > 8, `screenshot ${name}.png is a real picture (${png.length} bytes, luminance stddev ${stddev.toFixed(1)})`);
  return png;
}

async function pixelStddev(png) {
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let sum = 0, sq = 0, n = 0;
    for (let i = 0; i < d.length; i += 16) {
      const l = 0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2];
      sum += l; sq += l * l; n++;
    }
    const mean = sum / n;
    return Math.sqrt(sq / n - mean * mean);
  }, png.toString('base64'));
}

/** Pixels of the uPlot canvas that are drawn on (not transparent background). */
async function drawnPixels() {
  return page.evaluate(() => {
    const c = document.querySelector('.graph .uplot canvas');
    if (!c) return 0;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });
}

// ---- Metrics: graph, legend, exemplars, keyboard ----
await step('metrics page', async () => {
  await page.goto(`${base}/graph?${new URLSearchParams({ expr: spec.expr, range: '1h' })}`);
  await page.waitForSelector('.graph .uplot canvas');
  await page.waitForFunction(() => performance.getEntriesByName('lookout-first-graph').length > 0);
  Object.assign(figures, await page.evaluate(() => ({
    firstPaintMs: Math.round(performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1),
    firstRenderMs: Math.round(performance.getEntriesByName('lookout-first-render')[0]?.startTime ?? -1),
    firstGraphMs: Math.round(performance.getEntriesByName('lookout-first-graph')[0]?.startTime ?? -1),
  })));
  const legend = await page.$$eval('.u-legend tr.u-series th', (ths) => ths.slice(1).map((t) => t.textContent.trim()));
  check(legend.length === spec.series, `graph legend lists ${spec.series} series (got ${legend.length}: ${legend.join(' | ')})`);
  check(legend.every((l) => l.includes('path=')), 'legend entries carry the series labels');
  const px = await drawnPixels();
  check(px > 500, `graph canvas has drawn pixels (${px})`);
  const ex = await page.$$eval('a.exemplar', (as) => as.map((a) => a.getAttribute('href')));
  check(ex.includes(`/traces/${spec.traceId}`), `an exemplar links to /traces/${spec.traceId} (${ex.length} exemplars)`);
  await shot('metrics-dark');
  // Hover moves the legend's live values.
  const box = await page.locator('.graph .u-over').boundingBox();
  await page.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2);
  const vals = await page.$$eval('.u-legend tr.u-series td.u-value', (tds) => tds.slice(1).map((t) => t.textContent));
  check(vals.some((v) => v && v !== '—' && v !== '--'), `legend shows hover values (${vals.join(', ')})`);

  // Stacked areas, kept in the URL.
  await page.check('.toolbar input[type=checkbox]');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('stacked') === '1');
  await page.waitForSelector('.graph .uplot canvas');
  const stackedPx = await drawnPixels();
  check(stackedPx > px, `stacked mode fills the areas (${stackedPx} drawn pixels vs ${px})`);
  await page.uncheck('.toolbar input[type=checkbox]');
  await page.waitForSelector('.graph .uplot canvas');

  // Table tab, then back, through the URL state.
  await page.click('button[data-tab=table]');
  await page.waitForSelector('table.result');
  check(new URL(page.url()).searchParams.get('tab') === 'table', 'table tab is in the URL');
  check((await page.$$('table.result tbody tr')).length === spec.series, 'table lists the instant vector');
  await page.click('button[data-tab=graph]');
  await page.waitForSelector('.graph .uplot canvas');

  // Keyboard: `/` focuses the editor, Ctrl+Enter runs; errors show under the editor.
  await page.click('body', { position: { x: 5, y: 300 } });
  await page.keyboard.press('/');
  check(await page.evaluate(() => !!document.activeElement?.closest('.cm-editor')), '/ focuses the editor');
  await page.keyboard.press('Control+a');
  await page.keyboard.type('sum(rate(');
  await page.keyboard.press('Escape');
  const before = consoleErrors.length;
  await page.keyboard.press('Control+Enter');
  await page.waitForSelector('.errors .error');
  const msg = await page.textContent('.errors .error');
  check(msg.length > 5, `a bad query shows its error under the editor (${msg.slice(0, 60)})`);
  // The browser logs the expected 400s of the bad query; they are not page errors.
  await page.waitForTimeout(300);
  consoleErrors.splice(before).filter((e) => !e.includes('status of 400')).forEach((e) => consoleErrors.push(e));
  await page.keyboard.press('Control+a');
  await page.keyboard.type(spec.metric);
  await page.keyboard.press('Escape');
  await page.keyboard.press('Control+Enter');
  await page.waitForFunction((m) => new URL(location.href).searchParams.get('expr') === m, spec.metric);
  await page.waitForSelector('.graph .uplot canvas');
  check(true, 'Ctrl+Enter runs the query and puts it in the URL');
  // Completion of metric names from the server.
  await page.keyboard.press('Control+a');
  await page.keyboard.type(spec.metric.slice(0, 6));
  const opts = await page.waitForSelector('.cm-tooltip-autocomplete').then(() => page.$$eval('.cm-tooltip-autocomplete li', (ls) => ls.map((l) => l.textContent)));
  check(opts.some((o) => o.includes(spec.metric)), `the editor completes metric names (${opts.slice(0, 5).join(', ')})`);
  await page.keyboard.press('Escape');
});

// ---- Theme: toggle, remembered, the graph area changes ----
await step('theme', async () => {
  await page.goto(`${base}/graph?${new URLSearchParams({ expr: spec.expr, range: '1h' })}`);
  await page.waitForSelector('.graph .uplot canvas');
  const clip = await page.locator('.graph-wrap').boundingBox();
  const dark = await shot('graph-dark', { clip });
  await page.click('#theme');
  await page.waitForFunction(() => document.documentElement.dataset.theme === 'light');
  await page.waitForTimeout(100);
  const light = await shot('graph-light', { clip });
  check(!dark.equals(light), 'the graph area differs between the dark and light themes');
  await page.reload();
  await page.waitForSelector('.graph .uplot canvas');
  check((await page.evaluate(() => document.documentElement.dataset.theme)) === 'light', 'the theme is remembered across reloads');
  await shot('metrics-light');
  await page.click('#theme');
});

// ---- Metric -> trace -> logs ----
await step('exemplar to trace to logs', async () => {
  await page.goto(`${base}/graph?${new URLSearchParams({ expr: spec.expr, range: '1h' })}`);
  await page.waitForSelector(`a.exemplar[data-trace-id="${spec.traceId}"]`);
  await page.locator(`a.exemplar[data-trace-id="${spec.traceId}"]`).first().click();
  await page.waitForSelector('.waterfall .span:not(.header)');
  check(new URL(page.url()).pathname === `/traces/${spec.traceId}`, 'clicking an exemplar opens its trace');
  const n = (await page.$$('.waterfall .span:not(.header)')).length;
  check(n === spec.spans, `the waterfall has ${spec.spans} spans (got ${n})`);
  const indents = await page.$$eval('.waterfall .span:not(.header) .spanname', (e) => e.map((x) => parseInt(x.style.paddingLeft)));
  check(new Set(indents).size > 1, `spans are indented by parent (${indents.join(',')})`);
  await page.locator('.waterfall .span:not(.header)').nth(1).click();
  await page.waitForSelector('.spandetail:not([hidden]) table.kv');
  check(true, 'clicking a span shows its attributes');
  await shot('trace');
  await page.click('a.logslink');
  await page.waitForSelector('.logline');
  const texts = await page.$$eval('.logline .text', (e) => e.map((x) => x.textContent));
  check(new URL(page.url()).pathname === '/logs' && texts.length > 0 && texts.every((t) => t.includes(spec.traceId)), `"logs of this trace" lands on the trace's lines (${texts.length})`);
});

// ---- Logs ----
await step('logs', async () => {
  await page.goto(`${base}/logs?${new URLSearchParams({ q: spec.logQuery, range: '1h' })}`);
  await page.waitForSelector('.logline');
  const n = (await page.$$('.logline')).length;
  check(n === spec.logLines, `the log search shows ${spec.logLines} lines (got ${n})`);
  const times = await page.$$eval('.logline', (e) => e.map((x) => x.dataset.ts));
  check(times.every((t, i) => i === 0 || BigInt(times[i - 1]) >= BigInt(t)), 'lines are newest first');
  await page.waitForSelector('.volume canvas');
  check(true, 'the volume histogram is drawn');
  await page.locator('.logline .summary').first().click();
  await page.waitForSelector('.logline .details:not([hidden]) .chips');
  await page.locator('.logline .details:not([hidden]) .ctxbtn').click();
  await page.waitForSelector('.ctxline.current');
  const ctx = (await page.$$('.ctxline')).length;
  check(ctx > 1, `context shows the lines around (${ctx})`);
  check((await page.$$('a.tracelink')).length > 0, 'lines with a trace id link to their trace');
  await shot('logs');
  // Live tail: a line pushed now shows up on top without a reload.
  await page.click('button.live');
  check(new URL(page.url()).searchParams.get('live') === '1', 'live tail is in the URL');
  const stream = Object.fromEntries([...spec.logQuery.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  const resp = await fetch(`${base}/loki/api/v1/push`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ streams: [{ stream: { ...stream, level: 'info' }, values: [[`${Date.now()}000000`, 'live tail line']] }] }),
  });
  check(resp.ok, `pushed a line for live tail (${resp.status})`);
  await page.waitForFunction(() => document.querySelector('.logline .text')?.textContent === 'live tail line', null, { timeout: 10_000 });
  check(true, 'live tail shows the new line on top');
  await page.click('button.live');
});

// ---- Traces search ----
await step('traces search', async () => {
  await page.goto(`${base}/traces?service=checkout&range=1h`);
  await page.waitForSelector('table.traces');
  const ids = await page.$$eval('table.traces tbody tr td:first-child', (e) => e.map((x) => x.textContent));
  check(ids.includes(spec.traceId), `trace search finds the trace (${ids.length} results)`);
  await shot('traces');
});

// ---- Alerts, targets, status ----
await step('alerts', async () => {
  await page.goto(`${base}/alerts`);
  await page.waitForFunction((a) => document.querySelector('section.alerts')?.textContent.includes(a), spec.alert);
  const txt = await page.textContent('section.alerts');
  check(txt.includes('firing'), 'a firing alert shows up with its state');
  await page.waitForSelector('table.rules');
  await shot('alerts');
});
await step('targets', async () => {
  await page.goto(`${base}/targets`);
  await page.waitForSelector('table.targets');
  const health = await page.$$eval('table.targets .health', (e) => e.map((x) => x.textContent));
  check(health.includes('up') && health.includes('down'), `targets show health (${health.join(',')})`);
  await shot('targets');
});
await step('status', async () => {
  await page.goto(`${base}/status`);
  await page.waitForSelector('.tops table tbody tr');
  await page.waitForSelector('pre.config');
  const build = await page.textContent('.status-grid');
  check(/version/i.test(build), 'status shows build info');
  const top = await page.$$eval('.tops .top:first-child tbody tr', (r) => r.length);
  check(top > 0, `status shows top cardinality by metric name (${top} rows) and the config`);
  await shot('status');
});

check(consoleErrors.length === 0, `no console errors${consoleErrors.length ? ': ' + consoleErrors.join(' ; ') : ''}`);
await browser.close();
console.log(JSON.stringify({ figures, failures }));
process.exit(failures.length ? 1 : 0);
