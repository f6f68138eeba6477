/**
 * Modal dialogs on <dialog>.showModal(): focus moves in and is trapped
 * (Tab and Shift+Tab cycle), Escape closes, focus returns where it was.
 */
import { h, type Child } from './dom.js';

const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), textarea:not([disabled]), select:not([disabled]), [tabindex]:not([tabindex="-1"])';

export interface DialogHandle {
  readonly el: HTMLDialogElement;
  close(): void;
  /** Settles once the dialog has closed (by a button, Escape or close()). */
  readonly closed: Promise<void>;
}

export function openDialog(opts: {
  title: string;
  body: Child[];
  actions: (close: () => void) => HTMLElement[];
  /** Element to focus first; default the first focusable one. */
  initialFocus?: (dialog: HTMLDialogElement) => HTMLElement | null;
  tone?: 'default' | 'danger';
}): DialogHandle {
  const returnTo = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const titleId = `dialog-title-${Math.random().toString(36).slice(2, 8)}`;
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const close = (): void => {
    if (el.open) el.close();
  };
  const el = h(
    'dialog',
    { class: `dialog ${opts.tone ?? 'default'}`, 'aria-labelledby': titleId },
    h('h2', { id: titleId, class: 'dialog-title' }, opts.title),
    h('div', { class: 'dialog-body' }, opts.body),
    h('div', { class: 'dialog-actions' }, opts.actions(close)),
  );
  el.addEventListener('keydown', (ev: KeyboardEvent) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      close();
    } else if (ev.key === 'Tab') {
      const items = [...el.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((x) => x.offsetParent !== null);
      const first = items[0];
      const last = items[items.length - 1];
      if (!first || !last) return;
      if (ev.shiftKey && (document.activeElement === first || !el.contains(document.activeElement))) {
        ev.preventDefault();
        last.focus();
      } else if (!ev.shiftKey && document.activeElement === last) {
        ev.preventDefault();
        first.focus();
      }
    }
  });
  el.addEventListener('cancel', (ev) => {
    ev.preventDefault();
    close();
  });
  el.addEventListener('close', () => {
    el.remove();
    if (returnTo?.isConnected) returnTo.focus();
    resolveClosed();
  });
  document.body.appendChild(el);
  el.showModal();
  (opts.initialFocus?.(el) ?? el.querySelector<HTMLElement>(FOCUSABLE))?.focus();
  return { el, close, closed };
}

/** Asks a yes/no question; resolves true only if the confirming button was pressed. */
export async function confirmDialog(title: string, message: Child, confirmLabel: string): Promise<boolean> {
  let confirmed = false;
  const d = openDialog({
    title,
    tone: 'danger',
    body: [h('p', null, message)],
    actions: (close) => [
      h('button', { type: 'button', class: 'btn', onclick: close }, 'Cancel'),
      h('button', { type: 'button', class: 'btn btn-danger', onclick: () => ((confirmed = true), close()) }, confirmLabel),
    ],
    initialFocus: (dlg) => dlg.querySelector('.btn'),
  });
  await d.closed;
  return confirmed;
}

/**
 * Shows a secret once (an API key or a generated JWKS) with a copy button
 * and the warning that it will not be shown again.
 */
export function secretDialog(title: string, label: string, secret: string, multiline: boolean): DialogHandle {
  const value = multiline
    ? h('textarea', { id: 'secret-value', class: 'secret mono', readonly: true, rows: 12, spellcheck: 'false' }, secret)
    : h('input', { id: 'secret-value', type: 'text', class: 'secret mono', readonly: true, value: secret, spellcheck: 'false', autocomplete: 'off' });
  const copied = h('span', { class: 'copy-status', role: 'status' });
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(secret);
      copied.textContent = 'Copied to the clipboard.';
    } catch {
      value.focus();
      value.select();
      copied.textContent = document.execCommand('copy') ? 'Copied to the clipboard.' : 'Selected: press Ctrl+C to copy.';
    }
  };
  return openDialog({
    title,
    body: [
      h('p', { class: 'warning', id: 'secret-warning' }, h('strong', null, 'Copy it now.'), ' It will not be shown again: the service keeps only what it needs to verify it.'),
      h('div', { class: 'field' }, h('label', { for: 'secret-value' }, label), value),
      copied,
    ],
    actions: (close) => [
      h('button', { type: 'button', class: 'btn', id: 'copy-secret', onclick: () => void copy() }, 'Copy'),
      h('button', { type: 'button', class: 'btn btn-primary', id: 'close-secret', onclick: close }, 'Done'),
    ],
    initialFocus: (dlg) => dlg.querySelector('#copy-secret'),
  });
}
