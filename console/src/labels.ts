/** How the console names things the API returns. */
import type { AuthView, CredentialSource, TokenLocation } from './api.js';

export function authLabel(auth: AuthView): string {
  return auth.type === 'api-key' ? 'API Key' : `JWT (${auth.keyType === 'symmetric' ? 'symmetric' : 'asymmetric'})`;
}

export function sourceLabel(s: CredentialSource): string {
  if (s.in === 'bearer') return 'Authorization: Bearer';
  return s.in === 'header' ? `Header ${s.name}` : `Query parameter ${s.name}`;
}

export function tokenLabel(t: TokenLocation): string {
  const where = t.in === 'header' ? `Header ${t.name ?? 'authorization'}` : t.in === 'query' ? `Query parameter ${t.name ?? ''}` : `Cookie ${t.name ?? ''}`;
  const prefix = t.in === 'header' && t.prefix ? `, prefix "${t.prefix}"` : '';
  return `${where.trim()}${prefix}; passthrough ${t.passthrough ? 'on' : 'off'}`;
}
