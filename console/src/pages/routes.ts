/**
 * Grants per route. A route with grants admits only its consumers; a route
 * without grants admits every enabled consumer.
 */
import { api, ApiError, listAll, routePath, type Consumer, type RouteGrants } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { announce, h, when } from '../dom.js';
import { field, FieldErrors, formAlert } from '../form.js';
import { go, page } from '../shell.js';

export async function renderRoutes(root: HTMLElement): Promise<void> {
  const [routes, consumers] = await Promise.all([listAll<RouteGrants>('/v1/routes'), listAll<Consumer>('/v1/consumers')]);
  const reload = (): void => go('#/routes');

  /**
   * PUT replaces a route's record, so every field of the current one is sent
   * back: the short-term grants of the names kept (a PUT without them would
   * make them long-term) and anything else the record holds. `expiry` sets or
   * clears (null: long-term) the expiry of the name being granted.
   */
  async function put(route: string, names: string[], message: string, grant?: { name: string; expiry: string | null }): Promise<void> {
    const { route: _r, updatedAt: _u, expired: _e, consumers: _c, expires: prior, ...rest } = routes.find((r) => r.route === route) ?? ({} as Partial<RouteGrants>);
    const expires: Record<string, string> = {};
    for (const n of names) if (prior?.[n] !== undefined) expires[n] = prior[n];
    if (grant) {
      if (grant.expiry === null) delete expires[grant.name];
      else expires[grant.name] = grant.expiry;
    }
    await api('PUT', routePath(route), Object.keys(expires).length > 0 ? { ...rest, consumers: names, expires } : { ...rest, consumers: names });
    announce(message);
    reload();
  }

  // Grant form
  const alert = formAlert('grant-alert');
  const routeInput = h('input', { id: 'grant-route', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'chat' });
  const consumerInput = h('input', { id: 'grant-consumer', type: 'text', list: 'consumer-names', autocomplete: 'off', spellcheck: 'false' });
  const names = h('datalist', { id: 'consumer-names' }, consumers.map((c) => h('option', { value: c.name })));
  const expiresInput = h('input', { id: 'grant-expires', type: 'datetime-local' });
  const form = h(
    'form',
    { class: 'card form', novalidate: true, 'aria-labelledby': 'grant-title' },
    h('h2', { class: 'card-title', id: 'grant-title' }, 'Grant a consumer access to a route'),
    alert,
    h(
      'div',
      { class: 'row' },
      field('grant-route', 'Route', routeInput, 'The name Envoy sends in context_extensions.route.'),
      field('grant-consumer', 'Consumer', consumerInput, 'A consumer name.'),
      field('grant-expires', 'Expires (optional, your local time)', expiresInput, 'Empty: a long-term grant. Past it: 403 grant_expired.'),
      names,
    ),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary', id: 'grant-submit' }, 'Grant')),
  );
  const errors = new FieldErrors(form, alert).bind('route', 'grant-route').bind('path', 'grant-route').bind('consumers', 'grant-consumer').bind('expires', 'grant-expires');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.clear();
    const route = routeInput.value.trim();
    const name = consumerInput.value.trim();
    if (route === '') return void errors.set('grant-route', 'Enter the route name.');
    if (name === '') return void errors.set('grant-consumer', 'Enter a consumer name.');
    const current = routes.find((r) => r.route === route)?.consumers ?? [];
    const at = expiresInput.value === '' ? null : new Date(expiresInput.value);
    if (at !== null && Number.isNaN(at.getTime())) return void errors.set('grant-expires', 'Enter a date and time, or leave it empty for a long-term grant.');
    const expiry = at === null ? null : at.toISOString();
    try {
      await put(route, [...new Set([...current, name])], expiry === null ? `${name} may use ${route}.` : `${name} may use ${route} until ${at!.toLocaleString()}.`, { name, expiry });
    } catch (err) {
      if (err instanceof ApiError) errors.showApi(err);
      else errors.alert(String(err));
    }
  });

  const rows = routes.map((r) => {
    const chips = r.consumers.map((n) => {
      const remove = h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove ${n} from ${r.route}` }, '×');
      remove.addEventListener('click', async () => {
        const rest = r.consumers.filter((x) => x !== n);
        if (rest.length === 0 && !(await confirmDialog(`Remove ${n} from ${r.route}?`, `${n} is the only consumer granted; afterwards route ${r.route} admits no consumer until you grant one or remove its grants.`, 'Remove'))) return;
        try {
          await put(r.route, rest, `${n} can no longer use ${r.route}.`);
        } catch (err) {
          announce((err as Error).message, 'error');
        }
      });
      const until = r.expires?.[n];
      const expired = r.expired.includes(n);
      return h(
        'li',
        { class: expired ? 'chip chip-expired' : 'chip', 'data-consumer': n },
        h('a', { href: `#/consumer/${encodeURIComponent(n)}` }, n),
        until ? h('span', { class: 'chip-note' }, expired ? 'expired ' : 'until ', when(until)) : null,
        remove,
      );
    });
    const add = h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Add consumer to ${r.route}` }, 'Add consumer');
    add.addEventListener('click', () => {
      routeInput.value = r.route;
      consumerInput.focus();
    });
    const clear = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Remove grants of ${r.route}` }, 'Remove grants');
    clear.addEventListener('click', async () => {
      if (!(await confirmDialog(`Remove all grants of ${r.route}?`, `Route ${r.route} then admits every enabled consumer.`, 'Remove grants'))) return;
      try {
        await api('DELETE', routePath(r.route));
        announce(`${r.route} now admits every enabled consumer.`);
        reload();
      } catch (err) {
        announce((err as Error).message, 'error');
      }
    });
    return h(
      'tr',
      { 'data-route': r.route },
      h('th', { scope: 'row' }, h('code', null, r.route)),
      h('td', null, chips.length ? h('ul', { class: 'chips' }, chips) : h('span', { class: 'muted' }, 'No consumer: the route admits nobody')),
      h('td', { class: 'nowrap' }, when(r.updatedAt)),
      h('td', { class: 'actions' }, add, clear),
    );
  });

  page(
    root,
    { title: 'Routes', lead: 'A route with grants admits only the consumers granted on it; a route without grants admits every enabled consumer.' },
    form,
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'routes-table-title' },
      h('h2', { class: 'card-title', id: 'routes-table-title' }, 'Routes with grants'),
      rows.length
        ? h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'route-table' }, h('thead', null, h('tr', null, ['Route', 'Consumers', 'Updated'].map((x) => h('th', { scope: 'col' }, x)), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))), h('tbody', null, rows)))
        : h('p', { class: 'muted' }, 'No route has grants yet: every route admits every enabled consumer.'),
    ),
  );
}
