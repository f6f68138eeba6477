/**
 * Form building blocks: labelled fields with a hint and an error slot, choice
 * groups (toggle buttons: Tab to reach, Space/Enter to pick), switches, and
 * FieldErrors, which puts an API error beside the field it names.
 */
import type { ApiError } from './api.js';
import { h, type Child } from './dom.js';

/** A labelled control with an optional hint and a (hidden) error line below it. */
export function field(id: string, label: string, control: HTMLElement, hint?: Child, extraClass = ''): HTMLElement {
  const hintId = `${id}-hint`;
  if (hint) control.setAttribute('aria-describedby', hintId);
  return h(
    'div',
    { class: `field ${extraClass}`.trim(), 'data-field': id },
    h('label', { for: id }, label),
    control,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'field-error', id: `${id}-error`, hidden: true }),
  );
}

export interface Choice<T extends string> {
  readonly el: HTMLElement;
  value: T;
}

/**
 * One-of-N picker drawn as a row of toggle buttons (aria-pressed) in a
 * labelled group. Each option is a Tab stop, so Tab and Space/Enter suffice.
 */
export function choiceGroup<T extends string>(
  id: string,
  label: string,
  options: ReadonlyArray<{ value: T; label: string }>,
  initial: T,
  onChange: (v: T) => void = () => {},
  hint?: string,
): Choice<T> {
  let value = initial;
  const buttons = options.map((o) =>
    h('button', { type: 'button', class: 'seg', 'data-value': o.value, 'aria-pressed': String(o.value === initial), onclick: () => pick(o.value) }, o.label),
  );
  const group = h('div', { class: 'segmented', role: 'group', id, 'aria-labelledby': `${id}-label` }, buttons);
  if (hint) group.setAttribute('aria-describedby', `${id}-hint`);
  const el = h(
    'div',
    { class: 'field', 'data-field': id },
    h('span', { class: 'label', id: `${id}-label` }, label),
    group,
    hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null,
    h('p', { class: 'field-error', id: `${id}-error`, hidden: true }),
  );
  function pick(v: T): void {
    value = v;
    for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.value === v));
    onChange(v);
  }
  return {
    el,
    get value() {
      return value;
    },
    set value(v: T) {
      pick(v);
    },
  };
}

/** A checkbox shown as a switch, with a visible label. */
export function switchField(id: string, label: string, checked: boolean, hint?: string): { el: HTMLElement; input: HTMLInputElement } {
  const input = h('input', { type: 'checkbox', role: 'switch', id, class: 'switch-input', checked });
  if (hint) input.setAttribute('aria-describedby', `${id}-hint`);
  const el = h(
    'div',
    { class: 'field', 'data-field': id },
    h('label', { class: 'switch', for: id }, input, h('span', { class: 'switch-track', 'aria-hidden': 'true' }), h('span', null, label)),
    hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null,
    h('p', { class: 'field-error', id: `${id}-error`, hidden: true }),
  );
  return { el, input };
}

/**
 * Shows errors beside fields. `bind(apiField, id)` says which element shows
 * the API's errors for a request field; the most specific binding wins
 * (`auth.source.name` before `auth.source`), anything unbound goes to the
 * form's alert line. Inputs keep their values: only messages change.
 */
export class FieldErrors {
  readonly #root: HTMLElement;
  readonly #alert: HTMLElement;
  readonly #bindings = new Map<string, string>();
  readonly #byCode = new Map<string, string>();

  constructor(root: HTMLElement, alert: HTMLElement) {
    this.#root = root;
    this.#alert = alert;
    // A field's error goes as soon as its value changes: the user is fixing it.
    const fixed = (ev: Event): void => {
      const target = ev.target as HTMLElement | null;
      const holder = target?.closest<HTMLElement>('[data-field]');
      if (holder) this.#clearField(holder);
    };
    root.addEventListener('input', fixed);
    root.addEventListener('change', fixed);
    root.addEventListener('click', (ev) => {
      if ((ev.target as HTMLElement | null)?.closest('.segmented')) fixed(ev);
    });
  }

  #clearField(holder: HTMLElement): void {
    const error = holder.querySelector<HTMLElement>('.field-error');
    if (!error || error.hidden) return;
    error.hidden = true;
    error.textContent = '';
    for (const c of holder.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
  }

  /** Errors for `apiField` (and its sub-fields) show beside the element `id`. */
  bind(apiField: string, id: string): this {
    this.#bindings.set(apiField, id);
    return this;
  }

  /** An error code without a field shows beside `id` (e.g. consumer_exists → name). */
  bindCode(code: string, id: string): this {
    this.#byCode.set(code, id);
    return this;
  }

  clear(): void {
    this.#alert.hidden = true;
    this.#alert.textContent = '';
    for (const e of this.#root.querySelectorAll<HTMLElement>('.field-error')) {
      e.hidden = true;
      e.textContent = '';
    }
    for (const c of this.#root.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
  }

  /** Shows an API error; returns the id of the field that got it, if any. */
  showApi(err: ApiError): string | undefined {
    const id = (err.field && this.#match(err.field)) ?? this.#byCode.get(err.code);
    if (id && this.set(id, humanMessage(err, this.#label(id)))) return id;
    this.alert(humanMessage(err, undefined));
    return undefined;
  }

  /** A message beside the field `id`; focuses it. False if there is no such field. */
  set(id: string, message: string): boolean {
    const error = this.#root.querySelector<HTMLElement>(`#${CSS.escape(id)}-error`);
    const control = this.#root.querySelector<HTMLElement>(`#${CSS.escape(id)}`);
    if (!error || !control) return false;
    error.textContent = message;
    error.hidden = false;
    control.setAttribute('aria-invalid', 'true');
    const described = new Set((control.getAttribute('aria-describedby') ?? '').split(/\s+/).filter(Boolean));
    described.add(error.id);
    control.setAttribute('aria-describedby', [...described].join(' '));
    const focusable = control.matches('[role="group"]') ? control.querySelector<HTMLElement>('[aria-pressed="true"]') : control;
    focusable?.focus();
    return true;
  }

  alert(message: string): void {
    this.#alert.textContent = message;
    this.#alert.hidden = false;
    this.#alert.focus();
  }

  /** The visible label of the field `id` ("Header name"), if it has one. */
  #label(id: string): string | undefined {
    const byFor = this.#root.querySelector<HTMLElement>(`label[for="${CSS.escape(id)}"]`);
    const byId = this.#root.querySelector<HTMLElement>(`#${CSS.escape(id)}-label`);
    const text = (byFor ?? byId)?.textContent?.replace(/\s*\(.*\)\s*$/, '').trim();
    return text || undefined;
  }

  #match(field: string): string | undefined {
    let best: string | undefined;
    for (const k of this.#bindings.keys()) {
      const hit = field === k || field.startsWith(`${k}.`) || field.startsWith(`${k}[`);
      if (hit && (best === undefined || k.length > best.length)) best = k;
    }
    return best === undefined ? undefined : this.#bindings.get(best);
  }
}

/**
 * An API error as a sentence for people: the model's `auth.source.name: must
 * not be …` becomes `Header name must not be ….`, naming the field by its
 * label. Without a label the JSON path is dropped, not shown.
 */
export function humanMessage(err: ApiError, label: string | undefined): string {
  let text = err.message.trim();
  if (err.field && text.startsWith(`${err.field}: `)) {
    const problem = text.slice(err.field.length + 2).trim();
    const subject = label ?? 'This value';
    text = /^(must|is|are|has|have|does|can|cannot|may|should|was|already)\b/.test(problem) ? `${subject} ${problem}` : `${subject}: ${problem}`;
  }
  text = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

/** The alert line a form shows errors in that name no field. */
export function formAlert(id: string): HTMLElement {
  return h('div', { class: 'form-alert', id, role: 'alert', tabindex: '-1', hidden: true });
}
