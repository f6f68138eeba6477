/**
 * Create Consumer, field for field as the reference gateway's console asks.
 * The request is built from the form as it stands; an API error shows beside
 * the field it names and no value is cleared. After creation the secret (an
 * API key, or the JWKS generated for a symmetric JWT consumer) is shown once.
 */
import { api, ApiError, type Consumer } from '../api.js';
import { secretDialog } from '../dialog.js';
import { announce, h } from '../dom.js';
import { choiceGroup, field, FieldErrors, formAlert, switchField } from '../form.js';
import { checkPublicJwks, randomHex } from '../jwks.js';
import { go, page } from '../shell.js';

type Method = 'api-key' | 'jwt';
type Generation = 'system' | 'custom';
type Source = 'bearer' | 'header' | 'query';
type KeyType = 'symmetric' | 'asymmetric';
type TokenIn = 'header' | 'query' | 'cookie';

const SOURCE_NAME_DEFAULT: Record<'header' | 'query', string> = { header: 'x-api-key', query: 'api_key' };
const TOKEN_NAME_DEFAULT: Record<TokenIn, string> = { header: 'authorization', query: 'access_token', cookie: 'token' };

const JWKS_EXAMPLE = '{"keys":[{"kty":"EC","crv":"P-256","kid":"my-key-1","x":"…","y":"…"}]}';

export function renderCreate(root: HTMLElement): void {
  const alert = formAlert('create-alert');

  // Basic information
  const name = h('input', { id: 'consumer-name', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', maxlength: '64' });
  const status = switchField('consumer-enabled', 'Enabled', true, 'A disabled consumer is refused (403); nothing is deleted.');
  const description = h('textarea', { id: 'consumer-description', rows: 2, maxlength: '256' });

  // API key
  const credential = h('input', { id: 'api-key-credential', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const credentialField = field('api-key-credential', 'Credential', credential, '16–512 printable characters, no spaces or commas; unique across consumers.');
  const generation = choiceGroup<Generation>(
    'api-key-generation',
    'Generation method',
    [
      { value: 'system', label: 'System-generated' },
      { value: 'custom', label: 'Custom' },
    ],
    'system',
    () => sync(),
  );
  const sourceName = h('input', { id: 'api-key-source-name', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const sourceNameLabel = h('label', { for: 'api-key-source-name' });
  const sourceNameField = h('div', { class: 'field', 'data-field': 'api-key-source-name' }, sourceNameLabel, sourceName, h('p', { class: 'field-error', id: 'api-key-source-name-error', hidden: true }));
  const source = choiceGroup<Source>(
    'api-key-source',
    'Credential source',
    [
      { value: 'bearer', label: 'Authorization: Bearer' },
      { value: 'header', label: 'Custom HTTP header' },
      { value: 'query', label: 'Custom query parameter' },
    ],
    'bearer',
    (v) => {
      if (v !== 'bearer') {
        const other = SOURCE_NAME_DEFAULT[v === 'header' ? 'query' : 'header'];
        if (sourceName.value === '' || sourceName.value === other) sourceName.value = SOURCE_NAME_DEFAULT[v];
      }
      sync();
    },
  );
  const apiKeySection = h('fieldset', { class: 'group', id: 'api-key-settings' }, h('legend', null, 'API key'), generation.el, credentialField, source.el, sourceNameField);

  // JWT
  const jwks = h('textarea', { id: 'jwt-jwks', rows: 8, class: 'mono', spellcheck: 'false', placeholder: JWKS_EXAMPLE });
  const jwksField = field('jwt-jwks', 'JWKS', jwks, 'Public keys only (RS, PS, ES or EdDSA): {"keys":[…]}. Checked before it is sent.');
  const keyType = choiceGroup<KeyType>(
    'jwt-key-type',
    'Key type',
    [
      { value: 'symmetric', label: 'Symmetric' },
      { value: 'asymmetric', label: 'Asymmetric' },
    ],
    'symmetric',
    () => sync(),
    'Symmetric: the service generates an HS256 key and shows its JWKS once. Asymmetric: you paste the public JWKS.',
  );
  const tokenName = h('input', { id: 'jwt-token-name', type: 'text', value: TOKEN_NAME_DEFAULT.header, autocomplete: 'off', spellcheck: 'false' });
  const tokenPrefix = h('input', { id: 'jwt-token-prefix', type: 'text', value: 'Bearer ', autocomplete: 'off', spellcheck: 'false' });
  const tokenPrefixField = field('jwt-token-prefix', 'Prefix', tokenPrefix, 'Text before the token in the header, e.g. "Bearer ".');
  const tokenIn = choiceGroup<TokenIn>(
    'jwt-token-in',
    'Type',
    [
      { value: 'header', label: 'Header' },
      { value: 'query', label: 'Query parameter' },
      { value: 'cookie', label: 'Cookie' },
    ],
    'header',
    (v) => {
      if (Object.values(TOKEN_NAME_DEFAULT).includes(tokenName.value) || tokenName.value === '') tokenName.value = TOKEN_NAME_DEFAULT[v];
      sync();
    },
  );
  const passthrough = switchField('jwt-token-passthrough', 'Enable passthrough', false, 'On: the token also reaches the upstream. Off: it is removed.');
  const identityClaim = h('input', { id: 'jwt-identity-claim', type: 'text', value: 'uid', autocomplete: 'off', spellcheck: 'false' });
  const identityValue = h('input', { id: 'jwt-identity-value', type: 'text', value: randomHex(16), autocomplete: 'off', spellcheck: 'false', class: 'mono' });
  const regenerate = h('button', { type: 'button', class: 'btn', onclick: () => (identityValue.value = randomHex(16)) }, 'New random value');
  const jwtSection = h(
    'fieldset',
    { class: 'group', id: 'jwt-settings' },
    h('legend', null, 'JWT'),
    keyType.el,
    jwksField,
    h(
      'fieldset',
      { class: 'subgroup' },
      h('legend', null, 'JWKS token configuration'),
      tokenIn.el,
      h('div', { class: 'row' }, field('jwt-token-name', 'Token key', tokenName, 'Header, query parameter or cookie name.'), tokenPrefixField),
      passthrough.el,
    ),
    h(
      'fieldset',
      { class: 'subgroup' },
      h('legend', null, 'Consumer identity in JWKS payload'),
      h('p', { class: 'hint' }, 'A token identifies this consumer only if its signature verifies and this claim holds this value.'),
      h('div', { class: 'row' }, field('jwt-identity-claim', 'Identity key', identityClaim), h('div', { class: 'field-with-action' }, field('jwt-identity-value', 'Identity value', identityValue), regenerate)),
    ),
  );

  const method = choiceGroup<Method>(
    'auth-method',
    'Authentication method',
    [
      { value: 'api-key', label: 'API Key' },
      { value: 'jwt', label: 'JWT' },
    ],
    'api-key',
    () => sync(),
  );

  function sync(): void {
    apiKeySection.hidden = method.value !== 'api-key';
    jwtSection.hidden = method.value !== 'jwt';
    credentialField.hidden = generation.value !== 'custom';
    sourceNameField.hidden = source.value === 'bearer';
    sourceNameLabel.textContent = source.value === 'query' ? 'Query parameter name' : 'Header name';
    jwksField.hidden = keyType.value !== 'asymmetric';
    tokenPrefixField.hidden = tokenIn.value !== 'header';
  }
  sync();

  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'create-submit' }, 'Create');
  const form = h(
    'form',
    { class: 'card form', id: 'create-form', novalidate: true, 'aria-label': 'Create consumer' },
    alert,
    h(
      'fieldset',
      { class: 'group' },
      h('legend', null, 'Basic information'),
      field('consumer-name', 'Consumer name', name, '1–64 characters: letters, digits, . _ -; starts with a letter or digit. Cannot be changed later.'),
      h('div', { class: 'field' }, h('span', { class: 'label', id: 'status-label' }, 'Status'), status.el),
      field('consumer-description', 'Description', description, 'Optional, up to 256 characters.'),
    ),
    h('fieldset', { class: 'group' }, h('legend', null, 'Authentication'), method.el),
    apiKeySection,
    jwtSection,
    h('div', { class: 'form-actions' }, h('a', { class: 'btn', href: '#/consumers' }, 'Cancel'), submit),
  );

  const errors = new FieldErrors(form, alert)
    .bind('name', 'consumer-name')
    .bind('enabled', 'consumer-enabled')
    .bind('description', 'consumer-description')
    .bind('auth', 'auth-method')
    .bind('auth.generation', 'api-key-generation')
    .bind('auth.key', 'api-key-credential')
    .bind('key', 'api-key-credential')
    .bind('auth.source', 'api-key-source')
    .bind('auth.source.name', 'api-key-source-name')
    .bind('auth.keyType', 'jwt-key-type')
    .bind('auth.jwks', 'jwt-jwks')
    .bind('auth.token', 'jwt-token-in')
    .bind('auth.token.name', 'jwt-token-name')
    .bind('auth.token.prefix', 'jwt-token-prefix')
    .bind('auth.token.passthrough', 'jwt-token-passthrough')
    .bind('auth.identity', 'jwt-identity-claim')
    .bind('auth.identity.claim', 'jwt-identity-claim')
    .bind('auth.identity.value', 'jwt-identity-value')
    .bindCode('consumer_exists', 'consumer-name')
    .bindCode('credential_conflict', 'api-key-credential');

  /** The request body from the form as it stands, or undefined after a field error. */
  function request(): Record<string, unknown> | undefined {
    const body: Record<string, unknown> = { name: name.value.trim(), enabled: status.input.checked };
    if (description.value !== '') body.description = description.value;
    if (method.value === 'api-key') {
      const auth: Record<string, unknown> = { type: 'api-key', generation: generation.value };
      if (generation.value === 'custom') auth.key = credential.value;
      auth.source = source.value === 'bearer' ? { in: 'bearer' } : { in: source.value, name: sourceName.value.trim() };
      body.auth = auth;
      return body;
    }
    const token: Record<string, unknown> = { in: tokenIn.value, passthrough: passthrough.input.checked };
    if (tokenName.value.trim() !== '') token.name = tokenName.value.trim();
    if (tokenIn.value === 'header') token.prefix = tokenPrefix.value;
    const auth: Record<string, unknown> = {
      type: 'jwt',
      keyType: keyType.value,
      token,
      identity: { claim: identityClaim.value.trim(), value: identityValue.value.trim() },
    };
    if (keyType.value === 'asymmetric') {
      const checked = checkPublicJwks(jwks.value);
      if (!checked.ok) {
        errors.set('jwt-jwks', checked.message);
        return undefined;
      }
      auth.jwks = checked.jwks;
    }
    body.auth = auth;
    return body;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.clear();
    const body = request();
    if (!body) return;
    submit.disabled = true;
    try {
      const res = await api<{ consumer: Consumer; apiKey?: string; jwks?: unknown }>('POST', '/v1/consumers', body);
      const created = res.consumer.name;
      const detail = `#/consumer/${encodeURIComponent(created)}`;
      if (typeof res.apiKey === 'string') {
        await secretDialog(`API key for ${created}`, 'API key', res.apiKey, false).closed;
      } else if (res.jwks !== undefined) {
        await secretDialog(`JWKS for ${created}`, 'Generated JWKS (contains the signing secret)', JSON.stringify(res.jwks, null, 2), true).closed;
      }
      announce(`Consumer ${created} was created.`);
      go(detail);
    } catch (err) {
      if (err instanceof ApiError) errors.showApi(err);
      else errors.alert(String(err));
    } finally {
      submit.disabled = false;
    }
  });

  page(
    root,
    {
      title: 'Create consumer',
      crumb: [h('a', { href: '#/consumers' }, 'Consumers'), h('span', { 'aria-hidden': 'true' }, ' / '), h('span', { 'aria-current': 'page' }, 'Create')],
    },
    form,
  );
}
