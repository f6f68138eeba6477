/**
 * A tiny DOM builder: h('button', {class: 'btn', onclick: fn}, 'Save').
 * Text always goes in as text nodes, never as HTML.
 */
export type Child = Node | string | number | null | undefined | false | Child[];
export type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: any) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (v === true) el.setAttribute(k, '');
    else if (v !== false && v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces all children of `el`. */
export function replace(el: Node, ...children: Child[]): void {
  while (el.firstChild) el.removeChild(el.firstChild);
  append(el, children);
}

/** Element by id, typed; throws if the page is not what the code expects. */
export function byId<T extends HTMLElement = HTMLElement>(id: string, root: ParentNode = document): T {
  const el = root.querySelector<T>(`#${CSS.escape(id)}`);
  if (!el) throw new Error(`#${id} is missing`);
  return el;
}

/** A date-time as the user's locale shows it, inside <time>. */
export function when(iso: string | null | undefined, empty = '—'): HTMLElement | string {
  if (!iso) return empty;
  const d = new Date(iso);
  const text = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  return h('time', { datetime: iso, title: d.toISOString() }, text);
}

let statusTimer: number | undefined;
let statusAt = 0;

/** Clears the status message unless it was just said (it may be about the page being left). */
export function clearStaleStatus(): void {
  if (Date.now() - statusAt < 1500) return;
  const el = byId('status');
  el.className = 'toast';
  el.textContent = '';
}

/** Says `message` in the page's polite live region (and shows it briefly). */
export function announce(message: string, tone: 'ok' | 'error' = 'ok'): void {
  const el = byId('status');
  el.textContent = message;
  el.className = `toast show ${tone}`;
  statusAt = Date.now();
  window.clearTimeout(statusTimer);
  statusTimer = window.setTimeout(() => {
    el.className = 'toast';
    el.textContent = '';
  }, 6000);
}
