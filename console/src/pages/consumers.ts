/**
 * The consumer list: paged over the API's cursor ("Load more"), filtered by
 * name in the browser (the filter covers the pages loaded so far), with the
 * Enabled switch and delete-with-confirmation on every row.
 */
import { api, consumerPath, type Consumer, type Page } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { announce, h, replace, when } from '../dom.js';
import { authLabel } from '../labels.js';
import { page } from '../shell.js';

const PAGE_SIZE = 50;

export async function renderConsumers(root: HTMLElement): Promise<void> {
  const loaded: Consumer[] = [];
  let cursor: string | null = null;

  const search = h('input', { type: 'search', id: 'consumer-search', placeholder: 'Name contains…', autocomplete: 'off', 'aria-describedby': 'consumer-search-hint' });
  const tbody = h('tbody');
  const summary = h('p', { class: 'muted', id: 'consumer-search-hint', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'btn', id: 'load-more', hidden: true, onclick: () => void load() }, 'Load more');
  const table = h(
    'table',
    { class: 'table', id: 'consumer-table' },
    h('caption', { class: 'sr-only' }, 'Consumers'),
    h('thead', null, h('tr', null, ['Name', 'Status', 'Authentication', 'Description', 'Created'].map((c) => h('th', { scope: 'col' }, c)), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
    tbody,
  );
  const empty = h('div', { class: 'empty', hidden: true }, h('p', null, 'No consumers yet.'), h('p', { class: 'muted' }, 'A consumer is a named caller of your APIs with an API key or a JWT.'), h('a', { class: 'btn btn-primary', href: '#/consumers/new' }, 'Create consumer'));

  async function load(): Promise<void> {
    const q = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const res = await api<Page<Consumer>>('GET', `/v1/consumers?limit=${PAGE_SIZE}${q}`);
    loaded.push(...res.items);
    cursor = res.nextCursor;
    draw();
  }

  function draw(): void {
    const needle = search.value.trim().toLowerCase();
    const shown = needle ? loaded.filter((c) => c.name.toLowerCase().includes(needle)) : loaded;
    replace(tbody, shown.map(row));
    if (shown.length === 0 && loaded.length > 0) tbody.append(h('tr', null, h('td', { colspan: '6', class: 'muted center' }, `No loaded consumer matches "${search.value.trim()}".`)));
    more.hidden = cursor === null;
    empty.hidden = loaded.length > 0;
    table.hidden = loaded.length === 0;
    const scope = cursor === null ? `all ${loaded.length}` : `the ${loaded.length} loaded so far (load more to search further)`;
    summary.textContent = needle ? `${shown.length} match${shown.length === 1 ? '' : 'es'} among ${scope} consumers.` : `${loaded.length} consumer${loaded.length === 1 ? '' : 's'}${cursor === null ? '' : ' loaded; more are available'}.`;
  }

  function row(c: Consumer): HTMLElement {
    const toggle = h('input', { type: 'checkbox', role: 'switch', class: 'switch-input', checked: c.enabled, 'aria-label': `${c.name} enabled`, 'data-toggle': c.name });
    const state = h('span', { class: 'switch-text', 'aria-hidden': 'true' }, c.enabled ? 'Enabled' : 'Disabled');
    toggle.addEventListener('change', async () => {
      const enabled = toggle.checked;
      toggle.disabled = true;
      try {
        const updated = await api<Consumer>('PATCH', consumerPath(c.name), { enabled });
        Object.assign(c, updated);
        state.textContent = c.enabled ? 'Enabled' : 'Disabled';
        announce(`${c.name} is ${c.enabled ? 'enabled' : 'disabled'}.`);
      } catch (err) {
        toggle.checked = !enabled;
        announce(`Could not change ${c.name}: ${(err as Error).message}`, 'error');
      } finally {
        toggle.disabled = false;
      }
    });
    const del = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': `Delete ${c.name}` }, 'Delete');
    del.addEventListener('click', async () => {
      const ok = await confirmDialog(`Delete ${c.name}?`, `Its credentials stop working at once and its route grants name a consumer that no longer exists. This cannot be undone.`, 'Delete consumer');
      if (!ok) return;
      try {
        await api('DELETE', consumerPath(c.name));
        loaded.splice(loaded.indexOf(c), 1);
        draw();
        announce(`${c.name} was deleted.`);
        search.focus();
      } catch (err) {
        announce(`Could not delete ${c.name}: ${(err as Error).message}`, 'error');
      }
    });
    return h(
      'tr',
      { 'data-consumer': c.name },
      h('th', { scope: 'row' }, h('a', { href: `#/consumer/${encodeURIComponent(c.name)}`, class: 'name clip', title: c.name }, c.name)),
      h('td', null, h('label', { class: 'switch' }, toggle, h('span', { class: 'switch-track', 'aria-hidden': 'true' }), state)),
      h('td', null, h('span', { class: `badge ${c.auth.type}` }, authLabel(c.auth))),
      h('td', { class: 'desc' }, c.description || h('span', { class: 'muted' }, '—')),
      h('td', { class: 'nowrap' }, when(c.createdAt)),
      h('td', { class: 'actions' }, del),
    );
  }

  search.addEventListener('input', draw);
  page(
    root,
    { title: 'Consumers', lead: 'Named callers of your routes, each with an API key or a JWT.', actions: h('a', { class: 'btn btn-primary', href: '#/consumers/new', id: 'create-consumer' }, 'Create consumer') },
    h(
      'section',
      { class: 'card' },
      h('div', { class: 'toolbar' }, h('div', { class: 'search' }, h('label', { for: 'consumer-search' }, 'Search by name'), search), summary),
      h('div', { class: 'table-wrap' }, table),
      empty,
      h('div', { class: 'pager' }, more),
    ),
  );
  await load();
}
