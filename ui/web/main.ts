// The single-page app: picks the page from the path, keeps links in-app (history API),
// owns the theme toggle and the global keyboard shortcuts.

import './style.css';
import { activeEditor } from './editor';

export type Cleanup = void | (() => void);
type Page = (root: HTMLElement, path: string) => Cleanup | Promise<Cleanup>;

const pages: Record<string, () => Promise<{ default: Page }>> = {
  graph: () => import('./pages/metrics'),
  logs: () => import('./pages/logs'),
  traces: () => import('./pages/traces'),
  alerts: () => import('./pages/alerts'),
  targets: () => import('./pages/targets'),
  status: () => import('./pages/status'),
};

const app = document.getElementById('app')!;
let cleanup: Cleanup = undefined;
let renderSeq = 0;

async function route() {
  const seq = ++renderSeq;
  if (typeof cleanup === 'function') cleanup();
  cleanup = undefined;
  let name = location.pathname.split('/')[1] || '';
  if (!(name in pages)) {
    if (location.pathname === '/' || location.pathname === '/index.html') {
      history.replaceState(null, '', '/graph' + location.search);
      name = 'graph';
    }
  }
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#nav a')) {
    a.classList.toggle('active', a.dataset.page === name);
  }
  const load = pages[name];
  if (!load) {
    app.replaceChildren();
    app.append(Object.assign(document.createElement('p'), { className: 'error', textContent: `No page at ${location.pathname}.` }));
    return;
  }
  const mod = await load();
  if (seq !== renderSeq) return;
  app.replaceChildren();
  app.dataset.page = name;
  document.title = `Lookout · ${name[0].toUpperCase()}${name.slice(1)}`;
  cleanup = await mod.default(app, location.pathname);
}

/** In-app navigation for plain left clicks on same-origin links. */
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element).closest?.('a');
  if (!a || a.target || a.origin !== location.origin || a.hasAttribute('download')) return;
  if (/^\/(api|loki|otlp|v1|-)\//.test(a.pathname) || a.pathname === '/metrics') return;
  e.preventDefault();
  if (a.pathname + a.search !== location.pathname + location.search) history.pushState(null, '', a.pathname + a.search);
  route();
});
window.addEventListener('popstate', route);

export function navigate(url: string) {
  history.pushState(null, '', url);
  route();
}

// ---- theme ----
const themeBtn = document.getElementById('theme')!;
themeBtn.addEventListener('click', () => {
  const next = document.documentElement.dataset.theme === 'light' ? 'dark' : 'light';
  document.documentElement.dataset.theme = next;
  try {
    localStorage.setItem('lookout-theme', next);
  } catch {
    /* private mode: the toggle still works for this page */
  }
  window.dispatchEvent(new Event('lookout-theme'));
});

// ---- keyboard: `/` focuses the editor, `g` then a letter switches page ----
let gPending = false;
document.addEventListener('keydown', (e) => {
  const t = e.target as HTMLElement;
  if (t.closest('input, textarea, select, .cm-editor') || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === '/') {
    const ed = activeEditor();
    const input = ed ? null : app.querySelector<HTMLInputElement>('input');
    if (ed || input) {
      e.preventDefault();
      ed ? ed.focus() : input!.focus();
    }
  } else if (e.key === 'g') {
    gPending = true;
    setTimeout(() => (gPending = false), 1000);
  } else if (gPending) {
    gPending = false;
    const to: Record<string, string> = { m: '/graph', l: '/logs', t: '/traces', a: '/alerts', s: '/status' };
    if (to[e.key]) navigate(to[e.key]);
  }
});

performance.mark('lookout-app-start');
route().then(() => performance.mark('lookout-first-render'));
