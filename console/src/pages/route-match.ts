/**
 * A route's match rules (hosts × path × methods: how the service names the
 * route of a request that carries no context_extensions.route): how the
 * routes page shows them, and the editor that changes them. The editor reads
 * the route (and its ETag) when it opens and saves with If-Match, so a route
 * changed meanwhile is not overwritten: the save answers 412 and the caller
 * reloads it.
 */
import { ApiError, apiTagged, routePath, type MatchRule, type RouteGrants } from '../api.js';
import { openDialog } from '../dialog.js';
import { h } from '../dom.js';

type PathKind = 'any' | 'exact' | 'prefix' | 'template';

/** One rule as one line of text: `GET, POST · api.example.com · prefix /v1/orders`. */
export function ruleText(r: MatchRule): string {
  const methods = r.methods && r.methods.length > 0 ? r.methods.join(', ') : 'any method';
  const hosts = r.hosts && r.hosts.length > 0 ? r.hosts.join(', ') : 'any host';
  const p = r.path;
  const path = !p ? 'any path' : 'exact' in p ? `exact ${p.exact}` : 'prefix' in p ? `prefix ${p.prefix}` : `template ${p.template}`;
  return `${methods} · ${hosts} · ${path}`;
}

/** The rules of a route as a list, or a note that only context_extensions.route names it. */
export function rulesCell(r: RouteGrants): HTMLElement {
  const rules = r.match ?? [];
  if (rules.length === 0) return h('span', { class: 'muted' }, 'None: named by context_extensions.route only');
  return h('ul', { class: 'rules' }, rules.map((x) => h('li', { class: 'rule' }, h('code', null, ruleText(x)))));
}

/** A 412 from a route write: the route changed after it was read. */
export function changedMeanwhile(err: unknown): boolean {
  return err instanceof ApiError && err.status === 412;
}

function words(s: string): string[] {
  return s.split(/[\s,]+/).filter((w) => w !== '');
}

/**
 * Opens the editor of `route`'s rules. Resolves 'saved' once the rules are
 * written, 'changed' when the route changed between the editor's read and
 * its save (412: nothing was written), 'closed' when the user cancels.
 */
export async function editMatchRules(route: string): Promise<'saved' | 'changed' | 'closed'> {
  let current: RouteGrants | undefined;
  let etag: string | undefined;
  try {
    const got = await apiTagged<RouteGrants>('GET', routePath(route));
    current = got.body;
    etag = got.etag;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
  const list = h('ol', { class: 'rule-editor', id: 'match-rules' });
  let n = 0;
  const addRow = (r: MatchRule = {}): void => {
    const i = n++;
    const p = r.path;
    const kind: PathKind = !p ? 'any' : 'exact' in p ? 'exact' : 'prefix' in p ? 'prefix' : 'template';
    const hosts = h('input', { id: `rule-${i}-hosts`, type: 'text', class: 'rule-hosts', autocomplete: 'off', spellcheck: 'false', value: (r.hosts ?? []).join(', '), placeholder: 'api.example.com, *.example.com' });
    const select = h(
      'select',
      { id: `rule-${i}-kind`, class: 'rule-kind' },
      (['any', 'exact', 'prefix', 'template'] as const).map((k) => h('option', { value: k, selected: k === kind }, k === 'any' ? 'any path' : k)),
    );
    const path = h('input', { id: `rule-${i}-path`, type: 'text', class: 'rule-path', autocomplete: 'off', spellcheck: 'false', value: !p ? '' : 'exact' in p ? p.exact : 'prefix' in p ? p.prefix : p.template, placeholder: '/v1/orders/{id}' });
    const methods = h('input', { id: `rule-${i}-methods`, type: 'text', class: 'rule-methods', autocomplete: 'off', spellcheck: 'false', value: (r.methods ?? []).join(', '), placeholder: 'GET, POST' });
    const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Remove rule ${i + 1}` }, 'Remove');
    const label = (id: string, text: string, control: HTMLElement): HTMLElement => h('div', { class: 'field' }, h('label', { for: id }, text), control);
    const row = h(
      'li',
      { class: 'rule-row', 'data-rule': i },
      label(`rule-${i}-hosts`, 'Hosts (empty: any)', hosts),
      label(`rule-${i}-kind`, 'Path rule', select),
      label(`rule-${i}-path`, 'Path', path),
      label(`rule-${i}-methods`, 'Methods (empty: any)', methods),
      remove,
    );
    remove.addEventListener('click', () => row.remove());
    list.appendChild(row);
  };
  for (const r of current?.match ?? []) addRow(r);
  const add = h('button', { type: 'button', class: 'btn btn-small', id: 'add-rule' }, 'Add rule');
  add.addEventListener('click', () => addRow());
  const alert = h('div', { class: 'form-alert', id: 'match-alert', role: 'alert', hidden: true });

  const rules = (): MatchRule[] =>
    [...list.querySelectorAll<HTMLElement>('.rule-row')].map((row) => {
      const value = (cls: string): string => row.querySelector<HTMLInputElement | HTMLSelectElement>(`.${cls}`)!.value.trim();
      const kind = value('rule-kind') as PathKind;
      const rule: { hosts?: string[]; path?: MatchRule['path']; methods?: string[] } = {};
      const hosts = words(value('rule-hosts').toLowerCase());
      if (hosts.length > 0) rule.hosts = hosts;
      const path = value('rule-path');
      if (kind === 'exact') rule.path = { exact: path };
      else if (kind === 'prefix') rule.path = { prefix: path };
      else if (kind === 'template') rule.path = { template: path };
      const methods = words(value('rule-methods').toUpperCase());
      if (methods.length > 0) rule.methods = methods;
      return rule;
    });

  let outcome: 'saved' | 'changed' | 'closed' = 'closed';
  const dialog = openDialog({
    title: `Match rules of ${route}`,
    body: [
      h('p', null, 'A request without context_extensions.route is judged on the route whose rules it matches most specifically (exact host, then wildcard, then any; exact path, then template, then the longer prefix; a listed method before any). No rule: the route is named by context_extensions.route only.'),
      alert,
      list,
      add,
    ],
    actions: (close) => {
      const cancel = h('button', { type: 'button', class: 'btn', id: 'match-cancel' }, 'Cancel');
      cancel.addEventListener('click', close);
      const save = h('button', { type: 'button', class: 'btn btn-primary', id: 'match-save' }, 'Save rules');
      save.addEventListener('click', async () => {
        alert.hidden = true;
        const match = rules();
        // A new route exists for its rules: no grant list, it admits every enabled consumer (as before it had a record).
        const body = current ? { match } : { consumers: null, match };
        try {
          await apiTagged('PUT', routePath(route), body, etag !== undefined ? { ifMatch: etag } : { ifNoneMatch: '*' });
          outcome = 'saved';
          close();
        } catch (err) {
          if (changedMeanwhile(err)) {
            outcome = 'changed';
            close();
            return;
          }
          alert.textContent = err instanceof ApiError ? err.message : String(err);
          alert.hidden = false;
        }
      });
      return [cancel, save];
    },
  });
  dialog.el.classList.add('dialog-wide');
  await dialog.closed;
  return outcome;
}
