/** The page frame every page renders into <main>, and navigation. */
import { h, replace, type Child } from './dom.js';

/** Navigates to `hash` (re-rendering when it is the current one). */
export function go(hash: string): void {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

/**
 * Renders a page: an optional breadcrumb, the heading with the page's
 * actions beside it, then the content. The heading takes focus, so keyboard
 * and screen-reader users start at the top of the new page.
 */
export function page(root: HTMLElement, opts: { title: string; crumb?: Child; actions?: Child; lead?: Child }, ...content: Child[]): void {
  document.title = `${opts.title} · consumer-authz`;
  const heading = h('h1', { tabindex: '-1', class: 'clip', title: opts.title }, opts.title);
  replace(
    root,
    opts.crumb ? h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, opts.crumb) : null,
    h('div', { class: 'page-head' }, h('div', null, heading, opts.lead ? h('p', { class: 'lead' }, opts.lead) : null), h('div', { class: 'page-actions' }, opts.actions)),
    content,
  );
  heading.focus({ preventScroll: true });
}
