/**
 * One consumer: overview, its keys (add, rotate, remove) and the routes that
 * grant it. API-key consumers list key ids and hints; JWT consumers list the
 * public key ids (kid) of their JWKS.
 */
import { api, ApiError, consumerPath, listAll, routePath, type ApiKeyView, type Consumer, type JwkView, type RouteGrants } from '../api.js';
import { confirmDialog, secretDialog } from '../dialog.js';
import { announce, h, when, type Child } from '../dom.js';
import { choiceGroup, field, FieldErrors, formAlert } from '../form.js';
import { checkPublicJwk } from '../jwks.js';
import { authLabel, sourceLabel, tokenLabel } from '../labels.js';
import { go, page } from '../shell.js';

export async function renderDetail(root: HTMLElement, name: string): Promise<void> {
  const [c, routes] = await Promise.all([api<Consumer>('GET', consumerPath(name)), listAll<RouteGrants>('/v1/routes')]);
  const granted = routes.filter((r) => r.consumers.includes(c.name));
  const reload = (): void => go(`#/consumer/${encodeURIComponent(c.name)}`);

  const toggle = h('input', { type: 'checkbox', role: 'switch', class: 'switch-input', id: 'detail-enabled', checked: c.enabled });
  toggle.addEventListener('change', async () => {
    try {
      await api('PATCH', consumerPath(c.name), { enabled: toggle.checked });
      announce(`${c.name} is ${toggle.checked ? 'enabled' : 'disabled'}.`);
      reload();
    } catch (err) {
      toggle.checked = !toggle.checked;
      announce(`Could not change ${c.name}: ${(err as Error).message}`, 'error');
    }
  });
  const del = h('button', { type: 'button', class: 'btn btn-danger-ghost' }, 'Delete');
  del.addEventListener('click', async () => {
    if (!(await confirmDialog(`Delete ${c.name}?`, 'Its credentials stop working at once. This cannot be undone.', 'Delete consumer'))) return;
    try {
      await api('DELETE', consumerPath(c.name));
      announce(`${c.name} was deleted.`);
      go('#/consumers');
    } catch (err) {
      announce(`Could not delete ${c.name}: ${(err as Error).message}`, 'error');
    }
  });

  const a = c.auth;
  const facts: [string, Child][] = [
    ['Status', h('span', { class: `badge ${c.enabled ? 'on' : 'off'}` }, c.enabled ? 'Enabled' : 'Disabled')],
    ['Consumer ID', h('code', null, c.id)],
    ['Description', c.description || h('span', { class: 'muted' }, '—')],
    ['Authentication', authLabel(a)],
  ];
  if (a.type === 'api-key') facts.push(['Credential source', sourceLabel(a.source)]);
  else {
    facts.push(['Token', tokenLabel(a.token)]);
    facts.push(['Identity', h('span', null, h('code', null, a.identity.claim), ' = ', h('code', null, a.identity.value))]);
  }
  facts.push(['Created', when(c.createdAt)], ['Updated', when(c.updatedAt)]);

  page(
    root,
    {
      title: c.name,
      crumb: [h('a', { href: '#/consumers' }, 'Consumers'), h('span', { 'aria-hidden': 'true' }, ' / '), h('span', { 'aria-current': 'page', class: 'clip', title: c.name }, c.name)],
      actions: [h('label', { class: 'switch' }, toggle, h('span', { class: 'switch-track', 'aria-hidden': 'true' }), h('span', null, 'Enabled')), del],
    },
    h('section', { class: 'card', 'aria-labelledby': 'overview-title' }, h('h2', { class: 'card-title', id: 'overview-title' }, 'Overview'), h('dl', { class: 'facts' }, facts.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v)))), descriptionForm(c, reload)),
    a.type === 'api-key' ? apiKeyKeys(c, a.keys, reload) : jwtKeys(c, a.keys, a.keyType, reload),
    routesCard(c, granted, reload),
  );
}

/** Edits the description (PATCH, versioned and audited like every update). */
function descriptionForm(c: Consumer, reload: () => void): HTMLElement {
  const alert = formAlert('edit-description-alert');
  const input = h('input', { id: 'edit-description', type: 'text', maxlength: '256', value: c.description, autocomplete: 'off' });
  const form = h(
    'form',
    { class: 'inline-form', novalidate: true, 'aria-label': 'Edit description' },
    alert,
    h('div', { class: 'row' }, field('edit-description', 'Description', input, 'Up to 256 characters; leave empty for none.')),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn', id: 'edit-description-submit' }, 'Save description')),
  );
  const errors = new FieldErrors(form, alert).bind('description', 'edit-description');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.clear();
    try {
      await api('PATCH', consumerPath(c.name), { description: input.value });
      announce(`The description of ${c.name} was saved.`);
      reload();
    } catch (err) {
      if (err instanceof ApiError) errors.showApi(err);
      else errors.alert(String(err));
    }
  });
  return form;
}

async function removeKey(c: Consumer, id: string, label: string, reload: () => void): Promise<void> {
  if (!(await confirmDialog(`Remove key ${label}?`, 'Requests that use it are refused from now on.', 'Remove key'))) return;
  try {
    await api('DELETE', `${consumerPath(c.name)}/keys/${encodeURIComponent(id)}`);
    announce(`Key ${label} was removed.`);
    reload();
  } catch (err) {
    announce((err as Error).message, 'error');
  }
}

function apiKeyKeys(c: Consumer, keys: ApiKeyView[], reload: () => void): HTMLElement {
  const rows = keys.map((k) => {
    const rotate = h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Rotate key ${k.hint}` }, 'Rotate');
    rotate.addEventListener('click', async () => {
      if (!(await confirmDialog(`Rotate key ${k.hint}?`, `A new system-generated key is added (same expiry). Key ${k.hint} keeps working until you remove it, so callers can move over first.`, 'Rotate'))) return;
      try {
        const res = await api<{ key: ApiKeyView; apiKey: string }>('POST', `${consumerPath(c.name)}/keys`, k.expiresAt ? { expiresAt: k.expiresAt } : {});
        await secretDialog(`New API key for ${c.name}`, 'API key', res.apiKey, false).closed;
        reload();
      } catch (err) {
        announce((err as Error).message, 'error');
      }
    });
    const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Remove key ${k.hint}`, disabled: keys.length === 1, title: keys.length === 1 ? 'A consumer keeps at least one key' : null, onclick: () => void removeKey(c, k.id, k.hint, reload) }, 'Remove');
    return h('tr', null, h('td', null, h('code', null, k.hint)), h('td', null, h('code', { class: 'muted' }, k.id)), h('td', null, k.generation === 'system' ? 'System' : 'Custom'), h('td', { class: 'nowrap' }, when(k.createdAt)), h('td', { class: 'nowrap' }, when(k.expiresAt, 'Never')), h('td', { class: 'actions' }, rotate, remove));
  });

  // Add a key
  const alert = formAlert('add-key-alert');
  const credential = h('input', { id: 'add-key-credential', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const credentialField = field('add-key-credential', 'Credential', credential, '16–512 printable characters, no spaces or commas.');
  const generation = choiceGroup<'system' | 'custom'>('add-key-generation', 'Generation method', [{ value: 'system', label: 'System-generated' }, { value: 'custom', label: 'Custom' }], 'system', (v) => (credentialField.hidden = v !== 'custom'));
  credentialField.hidden = true;
  const expires = h('input', { id: 'add-key-expires', type: 'datetime-local' });
  const form = h(
    'form',
    { class: 'inline-form', novalidate: true, 'aria-label': 'Add key' },
    alert,
    h('div', { class: 'row' }, generation.el, credentialField, field('add-key-expires', 'Expires (optional, your local time)', expires)),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add key')),
  );
  const errors = new FieldErrors(form, alert).bind('generation', 'add-key-generation').bind('key', 'add-key-credential').bind('expiresAt', 'add-key-expires').bindCode('credential_conflict', 'add-key-credential');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.clear();
    const body: Record<string, unknown> = { generation: generation.value };
    if (generation.value === 'custom') body.key = credential.value;
    if (expires.value) body.expiresAt = new Date(expires.value).toISOString();
    try {
      const res = await api<{ key: ApiKeyView; apiKey: string }>('POST', `${consumerPath(c.name)}/keys`, body);
      await secretDialog(`New API key for ${c.name}`, 'API key', res.apiKey, false).closed;
      reload();
    } catch (err) {
      if (err instanceof ApiError) errors.showApi(err);
      else errors.alert(String(err));
    }
  });

  return keysCard(['Hint', 'Key ID', 'Generation', 'Created', 'Expires'], rows, 'Several keys let you rotate without downtime: add a key, move callers to it, remove the old one.', form);
}

function jwtKeys(c: Consumer, keys: JwkView[], keyType: 'symmetric' | 'asymmetric', reload: () => void): HTMLElement {
  const rows = keys.map((k) => {
    const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Remove key ${k.kid}`, disabled: keys.length === 1, onclick: () => void removeKey(c, k.kid, k.kid, reload) }, 'Remove');
    const type = [k.kty, k.alg, k.crv].filter(Boolean).join(' · ');
    return h('tr', null, h('td', null, h('code', null, k.kid)), h('td', null, type), h('td', { class: 'nowrap' }, when(k.createdAt)), h('td', { class: 'actions' }, remove));
  });
  const alert = formAlert('add-key-alert');
  let form: HTMLElement;
  if (keyType === 'symmetric') {
    form = h('form', { class: 'inline-form', novalidate: true, 'aria-label': 'Add key' }, alert, h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Generate new key')));
    const errors = new FieldErrors(form, alert);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      errors.clear();
      try {
        const res = await api<{ key: JwkView; jwks: unknown }>('POST', `${consumerPath(c.name)}/keys`, {});
        await secretDialog(`New JWKS for ${c.name}`, 'Generated JWKS (contains the signing secret)', JSON.stringify(res.jwks, null, 2), true).closed;
        reload();
      } catch (err) {
        errors.alert((err as Error).message);
      }
    });
  } else {
    const jwk = h('textarea', { id: 'add-key-jwk', rows: 5, class: 'mono', spellcheck: 'false', placeholder: '{"kty":"EC","crv":"P-256","kid":"my-key-2","x":"…","y":"…"}' });
    form = h('form', { class: 'inline-form', novalidate: true, 'aria-label': 'Add key' }, alert, field('add-key-jwk', 'Public JWK', jwk, 'One public key as JSON.'), h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add key')));
    const errors = new FieldErrors(form, alert).bind('jwk', 'add-key-jwk');
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      errors.clear();
      let parsed: unknown;
      try {
        parsed = JSON.parse(jwk.value);
      } catch {
        errors.set('add-key-jwk', 'This is not valid JSON.');
        return;
      }
      const problem = checkPublicJwk(parsed);
      if (problem) {
        errors.set('add-key-jwk', `The key ${problem}`);
        return;
      }
      try {
        await api('POST', `${consumerPath(c.name)}/keys`, { jwk: parsed });
        announce('The key was added.');
        reload();
      } catch (err) {
        if (err instanceof ApiError) errors.showApi(err);
        else errors.alert(String(err));
      }
    });
  }
  const note = keyType === 'symmetric' ? 'HS256 keys the service generated; their secrets were shown once.' : 'The public keys that verify this consumer’s tokens.';
  return keysCard(['Key ID (kid)', 'Type', 'Created'], rows, note, form);
}

function keysCard(columns: string[], rows: HTMLElement[], note: string, form: HTMLElement): HTMLElement {
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'keys-title' },
    h('h2', { class: 'card-title', id: 'keys-title' }, 'Keys'),
    h('p', { class: 'muted' }, note),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'key-table' }, h('thead', null, h('tr', null, columns.map((x) => h('th', { scope: 'col' }, x)), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))), h('tbody', null, rows))),
    h('h3', { class: 'sub-title' }, 'Add a key'),
    form,
  );
}

function routesCard(c: Consumer, granted: RouteGrants[], reload: () => void): HTMLElement {
  const items = granted.map((r) => {
    const revoke = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Revoke ${r.route}` }, 'Revoke');
    revoke.addEventListener('click', async () => {
      const rest = r.consumers.filter((n) => n !== c.name);
      const warn = rest.length === 0 ? ' It is the only consumer granted there, so the route will admit no consumer until you grant one or remove its grants.' : '';
      if (!(await confirmDialog(`Revoke ${r.route}?`, `${c.name} will be refused on route ${r.route}.${warn}`, 'Revoke'))) return;
      try {
        await api('PUT', routePath(r.route), { consumers: rest });
        announce(`${c.name} can no longer use ${r.route}.`);
        reload();
      } catch (err) {
        announce((err as Error).message, 'error');
      }
    });
    return h('li', null, h('code', null, r.route), h('span', { class: 'muted' }, ` with ${r.consumers.length - 1} other consumer${r.consumers.length === 2 ? '' : 's'}`), revoke);
  });
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'routes-title' },
    h('h2', { class: 'card-title', id: 'routes-title' }, 'Route grants'),
    items.length
      ? h('ul', { class: 'plain-list', id: 'granted-routes' }, items)
      : h('p', { class: 'muted', id: 'granted-routes' }, 'No route names this consumer. It may use every route without grants.'),
    h('p', null, h('a', { href: '#/routes' }, 'Manage grants on the Routes page')),
  );
}
