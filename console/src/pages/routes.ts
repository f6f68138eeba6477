/**
 * Grants and match rules per route. A route with grants admits only its
 * consumers; a route without grants admits every enabled consumer.
 *
 * Every write is conditional on the route being what the page showed: the
 * route is read again (with its ETag), compared with the shown one, and
 * written with If-Match (a new one with If-None-Match: *). A route changed
 * meanwhile (by another admin, the CLI) is not overwritten: the user is told
 * and the page shows the route as it is now.
 */
import { api, ApiError, apiTagged, listAll, routePath, type Consumer, type RequestOptions, type RouteGrants } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { announce, h, when } from '../dom.js';
import { field, FieldErrors, formAlert } from '../form.js';
import { go, page } from '../shell.js';
import { changedMeanwhile, editMatchRules, rulesCell } from './route-match.js';

/** What a write is conditional on: the stored fields of the route as shown. */
function stored(r: RouteGrants): string {
  return JSON.stringify([r.consumers, r.expires ?? {}, r.match ?? [], r.open ?? false, r.updatedAt]);
}

const PRECONDITION = new ApiError(412, 'precondition_failed', 'The route changed after it was read.');

export async function renderRoutes(root: HTMLElement): Promise<void> {
  const [routes, consumers] = await Promise.all([listAll<RouteGrants>('/v1/routes'), listAll<Consumer>('/v1/consumers')]);
  const reload = (): void => go('#/routes');
  const changed = (route: string): void => {
    announce(`Route ${route} was changed by someone else after this page loaded; nothing was saved. It is shown as it is now: make your change again.`, 'error');
    reload();
  };

  /** PUTs `body` (DELETE when null) only if the route is still the one shown (`undefined`: none existed). */
  async function write(route: string, body: unknown, message: string): Promise<void> {
    const shown = routes.find((r) => r.route === route);
    let opts: RequestOptions = { ifNoneMatch: '*' };
    try {
      if (shown) {
        const now = await apiTagged<RouteGrants>('GET', routePath(route)).catch((err: unknown) => {
          throw err instanceof ApiError && err.status === 404 ? PRECONDITION : err;
        });
        if (now.etag === undefined || stored(now.body) !== stored(shown)) throw PRECONDITION;
        opts = { ifMatch: now.etag };
      }
      if (body === null) await api('DELETE', routePath(route), undefined, opts);
      else await api('PUT', routePath(route), body, opts);
    } catch (err) {
      if (changedMeanwhile(err)) return changed(route);
      throw err;
    }
    announce(message);
    reload();
  }

  /**
   * PUT replaces a route's record, so every field of the current one is sent
   * back: the short-term grants of the names kept (a PUT without them would
   * make them long-term) and anything else the record holds. `expiry` sets or
   * clears (null: long-term) the expiry of the name being granted.
   */
  async function put(route: string, names: string[], message: string, grant?: { name: string; expiry: string | null }): Promise<void> {
    const { route: _r, updatedAt: _u, expired: _e, consumers: _c, open: _o, expires: prior, ...rest } = routes.find((r) => r.route === route) ?? ({} as Partial<RouteGrants>);
    const expires: Record<string, string> = {};
    for (const n of names) if (prior?.[n] !== undefined) expires[n] = prior[n];
    if (grant) {
      if (grant.expiry === null) delete expires[grant.name];
      else expires[grant.name] = grant.expiry;
    }
    await write(route, Object.keys(expires).length > 0 ? { ...rest, consumers: names, expires } : { ...rest, consumers: names }, message);
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
    const shown = routes.find((r) => r.route === route);
    // An open route (no grant list) starts one with this name.
    const current = shown?.open ? [] : (shown?.consumers ?? []);
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

  async function openRules(route: string): Promise<void> {
    try {
      const outcome = await editMatchRules(route);
      if (outcome === 'saved') {
        announce(`Match rules of ${route} saved.`);
        reload();
      } else if (outcome === 'changed') changed(route);
    } catch (err) {
      announce((err as Error).message, 'error');
    }
  }

  // Match rules of a route not listed yet (or any route, by name)
  const matchRoute = h('input', { id: 'match-route', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'orders' });
  const matchAlert = formAlert('match-route-alert');
  const matchForm = h(
    'form',
    { class: 'card form', novalidate: true, 'aria-labelledby': 'match-title' },
    h('h2', { class: 'card-title', id: 'match-title' }, 'Name a route from the request'),
    matchAlert,
    h('div', { class: 'row' }, field('match-route', 'Route', matchRoute, 'Where the proxy sends no context_extensions.route (Istio), match rules name the route from host, path and method.')),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn', id: 'match-open' }, 'Edit match rules')),
  );
  const matchErrors = new FieldErrors(matchForm, matchAlert);
  matchForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    matchErrors.clear();
    const route = matchRoute.value.trim();
    if (route === '') return void matchErrors.set('match-route', 'Enter the route name.');
    void openRules(route);
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
        // With match rules the route stays, without a grant list; without, its record goes.
        await write(r.route, r.match && r.match.length > 0 ? { consumers: null, match: r.match } : null, `${r.route} now admits every enabled consumer.`);
      } catch (err) {
        announce((err as Error).message, 'error');
      }
    });
    const rules = h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Edit match rules of ${r.route}` }, 'Match rules');
    rules.addEventListener('click', () => void openRules(r.route));
    return h(
      'tr',
      { 'data-route': r.route },
      h('th', { scope: 'row' }, h('code', null, r.route)),
      h('td', null, r.open ? h('span', { class: 'muted' }, 'No grant list: every enabled consumer') : chips.length ? h('ul', { class: 'chips' }, chips) : h('span', { class: 'muted' }, 'No consumer: the route admits nobody')),
      h('td', { class: 'match-cell' }, rulesCell(r)),
      h('td', { class: 'nowrap' }, when(r.updatedAt)),
      h('td', { class: 'actions' }, add, r.open ? null : clear, rules),
    );
  });

  page(
    root,
    { title: 'Routes', lead: 'A route with grants admits only the consumers granted on it; a route without grants admits every enabled consumer. Match rules name the route of a request that carries no context_extensions.route.' },
    form,
    matchForm,
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'routes-table-title' },
      h('h2', { class: 'card-title', id: 'routes-table-title' }, 'Routes with grants or match rules'),
      rows.length
        ? h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'route-table' }, h('thead', null, h('tr', null, ['Route', 'Consumers', 'Match rules', 'Updated'].map((x) => h('th', { scope: 'col' }, x)), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))), h('tbody', null, rows)))
        : h('p', { class: 'muted' }, 'No route has grants yet: every route admits every enabled consumer.'),
    ),
  );
}
