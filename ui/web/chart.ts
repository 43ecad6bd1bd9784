// uPlot charts: time series (lines or stacked) and bars, themed from CSS variables, sized to
// their container, redrawn when the theme changes.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const PALETTE = ['#5794f2', '#73bf69', '#f2cc0c', '#ff7383', '#b877d9', '#ff9830', '#8ab8ff', '#37872d', '#fade2a', '#c4162a', '#8f3bb8', '#fa6400'];

export function color(i: number): string {
  return PALETTE[i % PALETTE.length];
}

function css(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export interface SeriesSpec {
  label: string;
  values: (number | null)[];
}

export interface ChartOpts {
  times: number[]; // seconds
  series: SeriesSpec[];
  stacked?: boolean;
  bars?: boolean;
  height?: number;
  legend?: boolean;
  hooks?: uPlot.Hooks.Arrays;
}

/** Draws into `host`; returns a disposer. */
export function chart(host: HTMLElement, o: ChartOpts): { plot: uPlot; dispose: () => void } {
  let data: (number | null)[][] = o.series.map((s) => s.values);
  if (o.stacked) {
    const acc = new Array<number>(o.times.length).fill(0);
    data = data.map((vals) =>
      vals.map((v, i) => {
        if (v === null || !isFinite(v)) return null;
        acc[i] += v;
        return acc[i];
      }),
    );
  }
  const axis = () => ({
    stroke: css('--muted'),
    grid: { stroke: css('--grid'), width: 1 },
    ticks: { stroke: css('--grid'), width: 1 },
  });
  const bars = o.bars ? uPlot.paths.bars!({ size: [0.9, 40] }) : undefined;
  const opts: uPlot.Options = {
    width: Math.max(300, host.clientWidth || 800),
    height: o.height ?? 320,
    legend: { show: o.legend !== false, live: true },
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    axes: [axis(), { ...axis(), size: 60 }],
    series: [
      { label: 'Time' },
      ...o.series.map((s, i) => ({
        label: s.label,
        stroke: color(i),
        width: 1.5,
        fill: o.stacked || o.bars ? color(i) + (o.bars ? 'cc' : '55') : undefined,
        paths: bars,
        points: { show: false },
        spanGaps: false,
        value: (_u: uPlot, v: number | null, si: number, idx: number | null) =>
          v === null ? '—' : fmtValue(o.stacked && idx !== null ? (o.series[si - 1].values[idx] ?? NaN) : v),
      })),
    ],
    hooks: o.hooks,
  };
  // Stacked areas: draw the last series first so the lower bands stay visible.
  if (o.stacked) {
    const order = opts.series.slice(1).map((_, i) => i + 1);
    opts.bands = order.slice(1).map((s) => ({ series: [s, s - 1] as [number, number] }));
  }
  const plot = new uPlot(opts, [o.times, ...data] as uPlot.AlignedData, host);
  const ro = new ResizeObserver(() => {
    const w = host.clientWidth;
    if (w && Math.abs(w - plot.width) > 4) plot.setSize({ width: w, height: plot.height });
  });
  ro.observe(host);
  return {
    plot,
    dispose: () => {
      ro.disconnect();
      plot.destroy();
    },
  };
}

export function fmtValue(v: number): string {
  if (!isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return String(+v.toPrecision(6));
}
