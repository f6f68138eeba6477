/**
 * The console's entry: hash routes, sign-in guard, navigation state.
 *
 *   #/sign-in            admin token
 *   #/consumers          list (default)
 *   #/consumers/new      create form
 *   #/consumer/{name}    detail: keys and routes
 *   #/routes             grants per route
 */
import { ApiError, setUnauthorizedHandler, signedIn, signOut } from './api.js';
import { byId, clearStaleStatus, h, replace } from './dom.js';
import { renderConsumers } from './pages/consumers.js';
import { renderCreate } from './pages/create.js';
import { renderDetail } from './pages/detail.js';
import { renderRoutes } from './pages/routes.js';
import { renderSignIn } from './pages/sign-in.js';
import { go, page } from './shell.js';

const mainEl = byId('main');
let signInReason = '';

setUnauthorizedHandler(() => {
  signInReason = 'The admin token was refused. Sign in again.';
  go('#/sign-in');
});

async function render(): Promise<void> {
  const path = location.hash.replace(/^#/, '') || '/consumers';
  clearStaleStatus();
  if (!signedIn() && path !== '/sign-in') {
    go('#/sign-in');
    return;
  }
  byId('nav').hidden = !signedIn();
  byId('sign-out').hidden = !signedIn();
  for (const a of document.querySelectorAll<HTMLAnchorElement>('[data-nav]')) {
    const current = path.startsWith(`/${a.dataset.nav}`) || (a.dataset.nav === 'consumers' && path.startsWith('/consumer/'));
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const detail = /^\/consumer\/(.+)$/.exec(path);
  // Each render draws into its own view; a slower earlier render that
  // finishes late then writes into a detached element, never over this page.
  const main = h('div', { class: 'view' }, h('p', { class: 'muted' }, 'Loading…'));
  replace(mainEl, main);
  try {
    if (path === '/sign-in') {
      const reason = signInReason;
      signInReason = '';
      renderSignIn(main, reason, () => go('#/consumers'));
    } else if (path === '/consumers') await renderConsumers(main);
    else if (path === '/consumers/new') renderCreate(main);
    else if (detail) await renderDetail(main, decodeURIComponent(detail[1] as string));
    else if (path === '/routes') await renderRoutes(main);
    else page(main, { title: 'Not found' }, h('p', null, 'There is no such page. ', h('a', { href: '#/consumers' }, 'Go to Consumers'), '.'));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    const message = err instanceof Error ? err.message : String(err);
    page(main, { title: 'Something went wrong' }, h('p', { class: 'form-alert', role: 'alert' }, message));
  }
}

byId('sign-out').addEventListener('click', () => {
  signOut();
  go('#/sign-in');
});
document.querySelector('.skip-link')?.addEventListener('click', (ev) => {
  ev.preventDefault();
  mainEl.querySelector<HTMLElement>('h1')?.focus();
});
window.addEventListener('hashchange', () => void render());
void render();
