/** Sign-in: the admin token, checked against the API before it is kept. */
import { api, ApiError, signIn } from '../api.js';
import { h } from '../dom.js';
import { field, FieldErrors, formAlert } from '../form.js';
import { page } from '../shell.js';

export function renderSignIn(root: HTMLElement, reason: string, done: () => void): void {
  const token = h('input', { id: 'admin-token', type: 'password', autocomplete: 'current-password', spellcheck: 'false' });
  const alert = formAlert('sign-in-alert');
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card narrow', novalidate: true, 'aria-labelledby': 'sign-in-title' },
    h('h2', { id: 'sign-in-title', class: 'card-title' }, 'Admin token'),
    alert,
    field('admin-token', 'Admin token', token, 'The ADMIN_TOKEN the service was started with. Leave it empty when the service has none (loopback only). It is kept in this tab only.'),
    h('div', { class: 'form-actions' }, submit),
  );
  const errors = new FieldErrors(form, alert).bind('token', 'admin-token').bindCode('unauthorized', 'admin-token');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.clear();
    submit.disabled = true;
    try {
      await api('GET', '/v1/consumers?limit=1', undefined, { token: token.value });
      signIn(token.value);
      done();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) errors.set('admin-token', 'This token was refused. Check ADMIN_TOKEN and try again.');
      else errors.alert(err instanceof Error ? err.message : String(err));
    } finally {
      submit.disabled = false;
    }
  });
  page(root, { title: 'Sign in', lead: 'Manage the consumers and route grants of this consumer-authz service.' }, form);
  if (reason) errors.alert(reason);
  else token.focus();
}
