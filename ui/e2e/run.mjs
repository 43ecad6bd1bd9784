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
  // Spans per service of the trace, and the label values of the log streams.
  services: { checkout: 2, payments: 2 },
  logStreams: 2,
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

// Live tail's sockets and the polls it would make without them.
const tailSockets = [];
page.on('websocket', (ws) => {
  if (!ws.url().includes('/loki/api/v1/tail')) return;
  const frames = [];
  ws.on('framereceived', (f) => frames.push(String(f.payload)));
  tailSockets.push({ url: ws.url(), frames });
});
const forwardPolls = [];
page.on('request', (r) => {
  if (r.url().includes('/loki/api/v1/query_range') && r.url().includes('direction=forward')) forwardPolls.push(r.url());
});

// Lines pushed by this script (the status page counts them with the feeder's).
let pushedLines = 0;
async function pushLine(line) {
  const stream = Object.fromEntries([...spec.logQuery.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  const resp = await fetch(`${base}/loki/api/v1/push`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ streams: [{ stream: { ...stream, level: 'info' }, values: [[`${Date.now()}000000`, line]] }] }),
  });
  check(resp.ok, `pushed "${line}" (${resp.status})`);
  if (resp.ok) pushedLines++;
}

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
  // Live tail over the WebSocket: a line pushed after the tail started shows up on top
  // without a reload, carried by a socket frame, with no polling.
  const polls = forwardPolls.length;
  await page.click('button.live');
  check(new URL(page.url()).searchParams.get('live') === '1', 'live tail is in the URL');
  await page.waitForSelector('button.live[data-via=websocket]');
  check(tailSockets.length === 1 && tailSockets[0].url.startsWith(base.replace(/^http/, 'ws')), `live tail opened one /loki/api/v1/tail socket (${tailSockets.map((t) => t.url).join(', ')})`);
  await pushLine('live tail line');
  await page.waitForFunction(() => document.querySelector('.logline .text')?.textContent === 'live tail line', null, { timeout: 10_000 });
  check(true, 'live tail shows the new line on top');
  check(tailSockets[0]?.frames.some((f) => f.includes('live tail line')), 'the line came in a tail socket frame');
  check(forwardPolls.length === polls, `no query_range polling while the socket works (${forwardPolls.length - polls} polls)`);
  const lines = (await page.$$('.logline')).length;
  check(lines === spec.logLines + 1, `the tailed line is added once (${lines} lines)`);
  await page.click('button.live');
});

// ---- Live tail falls back to polling when the socket fails ----
await step('live tail fallback', async () => {
  const p2 = await context.newPage();
  const errs = [];
  p2.on('pageerror', (e) => errs.push(e.message));
  // Every tail socket is refused at once, as a proxy without WebSocket support would.
  await p2.routeWebSocket(/\/loki\/api\/v1\/tail/, (ws) => ws.close());
  await p2.goto(`${base}/logs?${new URLSearchParams({ q: spec.logQuery, range: '1h', live: '1' })}`);
  await p2.waitForSelector('.logline');
  await p2.waitForSelector('button.live[data-via=polling]');
  check(true, 'a failed tail socket falls back to polling');
  await pushLine('polled tail line');
  await p2.waitForFunction(() => document.querySelector('.logline .text')?.textContent === 'polled tail line', null, { timeout: 10_000 });
  check(true, 'polling shows the new line on top');
  check(errs.length === 0, `no page errors in the fallback (${errs.join('; ')})`);
  await p2.close();
});

// ---- Completion from the pushed data ----
await step('completion', async () => {
  const options = () => page.$$eval('.cm-tooltip-autocomplete li', (ls) => ls.map((l) => l.textContent));
  const waitOption = (o) => page.waitForFunction((o) => [...document.querySelectorAll('.cm-tooltip-autocomplete li')].some((l) => l.textContent === o), o);
  await page.goto(`${base}/logs?range=1h`);
  await page.locator('.cm-content').click();
  await page.keyboard.type('{serv');
  await waitOption('service_name');
  check(true, `the LogQL editor completes the label name service_name (${(await options()).join(', ')})`);
  // CodeMirror takes Enter as "accept" only once the list has been open a moment
  // (interactionDelay, 75 ms); sooner, Enter runs the query.
  await page.waitForTimeout(300);
  await page.keyboard.press('Enter');
  await page.keyboard.type('che');
  await waitOption('checkout');
  check((await page.textContent('.cm-content')).startsWith('{service_name="che'), 'accepting the label name opens its value');
  check(true, 'the LogQL editor completes the label value checkout');
  await page.keyboard.press('Escape');

  await page.goto(`${base}/traces?range=1h`);
  await page.locator('.cm-content').click();
  await page.keyboard.type('{ resource.serv');
  await waitOption('resource.service.name');
  check(true, 'the TraceQL editor completes the attribute resource.service.name');
  await page.keyboard.press('Escape');
  await page.keyboard.type('ice.name = "');
  for (const svc of Object.keys(spec.services)) await waitOption(svc);
  check(true, `the TraceQL editor completes service values (${(await options()).join(', ')})`);
  await page.keyboard.press('Escape');
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
  for (const s of ['metrics', 'logs', 'traces']) await page.waitForSelector(`section[data-signal=${s}] table.figures`);
  await page.waitForSelector('pre.config');
  const build = await page.textContent('.status-grid');
  check(/version/i.test(build), 'status shows build info');
  const figure = (s, key) => page.textContent(`section[data-signal=${s}] tr[data-key=${key}] td:last-child`);
  /** The rows of a section's top list titled `title`, as {name: count}. */
  const top = (s, title) => page.$$eval(`section[data-signal=${s}] .top`, (tops, title) => {
    const t = tops.find((x) => x.querySelector('h3')?.textContent === title);
    return t ? Object.fromEntries([...t.querySelectorAll('tbody tr')].map((r) => [r.cells[0].textContent, Number(r.cells[1].textContent.replace(/,/g, ''))])) : null;
  }, title);

  // Metrics: the figures and top lists the tsdb status gives.
  const tsdb = (await (await fetch(`${base}/api/v1/status/tsdb`)).json()).data;
  const series = Number((await figure('metrics', 'series')).replace(/,/g, ''));
  check(series > 0, `metrics storage shows the head series (${series})`);
  const byMetric = await top('metrics', 'Series by metric name');
  const first = Object.keys(byMetric || {})[0];
  check(first && tsdb.seriesCountByMetricName.some((r) => r.name === first), `metrics storage lists series by metric name (${first})`);

  // Logs: the feeder's lines and this script's, in their streams.
  const lines = Number(await figure('logs', 'lines'));
  check(lines === spec.logLines + pushedLines, `logs storage shows ${spec.logLines + pushedLines} lines (${lines})`);
  const streams = Number(await figure('logs', 'streams'));
  check(streams === spec.logStreams, `logs storage shows ${spec.logStreams} streams (${streams})`);
  const byName = await top('logs', 'Values by label name');
  check(byName?.level === 2 && byName?.service_name === 1, `logs storage shows label cardinality (${JSON.stringify(byName)})`);
  const byPair = await top('logs', 'Streams by label pair');
  check(byPair?.['service_name=checkout'] === spec.logStreams, `logs storage shows streams by label pair (${JSON.stringify(byPair)})`);

  // Traces: the trace's spans by service.
  const spans = Number(await figure('traces', 'spans'));
  check(spans === spec.spans, `traces storage shows ${spec.spans} spans (${spans})`);
  const bySvc = await top('traces', 'Spans by service');
  check(JSON.stringify(bySvc) === JSON.stringify(spec.services), `traces storage shows spans by service (${JSON.stringify(bySvc)})`);
  await shot('status');
});

check(consoleErrors.length === 0, `no console errors${consoleErrors.length ? ': ' + consoleErrors.join(' ; ') : ''}`);
await browser.close();
console.log(JSON.stringify({ figures, failures }));
process.exit(failures.length ? 1 : 0);
