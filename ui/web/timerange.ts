// The time range picker: relative presets ending now, or an absolute start/end, kept in the
// URL as `range` or `start`+`end` (unix seconds).

import { h, params, parseDuration, setParams } from './util';

export const PRESETS = ['5m', '15m', '30m', '1h', '3h', '6h', '12h', '1d', '2d', '7d'];

export interface Range {
  start: number; // ms
  end: number; // ms
  relative: string | null;
}

export function currentRange(defaultRange = '1h'): Range {
  const p = params();
  const s = Number(p.get('start'));
  const e = Number(p.get('end'));
  if (p.get('start') && p.get('end') && isFinite(s) && isFinite(e) && e > s) {
    return { start: s * 1000, end: e * 1000, relative: null };
  }
  const rel = p.get('range') || defaultRange;
  const ms = parseDuration(rel);
  const len = isFinite(ms) && ms > 0 ? ms : 3600e3;
  const end = Date.now();
  return { start: end - len, end, relative: isFinite(ms) ? rel : defaultRange };
}

/** A step giving about 250 points, at least 1s, unless the URL sets `step`. */
export function currentStep(r: Range): number {
  const p = params().get('step');
  const ms = p ? parseDuration(p) : NaN;
  if (isFinite(ms) && ms > 0) return ms / 1000;
  return Math.max(1, Math.round((r.end - r.start) / 250 / 1000));
}

function localInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 19);
}

/** The picker; `onChange` runs after the URL is updated. */
export function rangePicker(onChange: () => void, opts: { step?: boolean; defaultRange?: string } = {}): HTMLElement {
  const r = currentRange(opts.defaultRange);
  const sel = h(
    'select',
    { 'aria-label': 'Time range', name: 'range' },
    PRESETS.map((p) => h('option', { value: p, selected: r.relative === p }, `Last ${p}`)),
    h('option', { value: 'abs', selected: r.relative === null }, 'Absolute…'),
  );
  const start = h('input', { type: 'datetime-local', step: 1, value: localInput(r.start), 'aria-label': 'Start' });
  const end = h('input', { type: 'datetime-local', step: 1, value: localInput(r.end), 'aria-label': 'End' });
  const abs = h('span.abs', { hidden: r.relative !== null }, start, '→', end);
  const step = h('input.step', {
    name: 'step',
    placeholder: 'step (auto)',
    size: 8,
    value: params().get('step') || '',
    'aria-label': 'Step',
    title: 'Resolution step, e.g. 15s (empty: automatic)',
  });
  const applyAbs = () => {
    const s = Date.parse(start.value);
    const e = Date.parse(end.value);
    if (isFinite(s) && isFinite(e) && e > s) {
      setParams({ range: null, start: String(s / 1000), end: String(e / 1000) }, true);
      onChange();
    }
  };
  sel.addEventListener('change', () => {
    if (sel.value === 'abs') {
      abs.hidden = false;
      applyAbs();
    } else {
      abs.hidden = true;
      setParams({ range: sel.value, start: null, end: null }, true);
      onChange();
    }
  });
  start.addEventListener('change', applyAbs);
  end.addEventListener('change', applyAbs);
  step.addEventListener('change', () => {
    setParams({ step: step.value.trim() || null }, true);
    onChange();
  });
  return h('span.range', {}, sel, abs, opts.step === false ? null : step);
}
