/**
 * What the admin API answers, as types, declared once: the CLI (src/cli/) and
 * the web console (console/src/api.ts) import them with `import type`. Like
 * src/consumers/views.ts this file imports only view types, so the console (a
 * browser bundle with its own tsconfig) compiles it; the architecture test
 * keeps it that way.
 */
export type * from '../consumers/views.js';

/** A cursor-paged list (`?limit=&cursor=`); `nextCursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** A route's grants: the consumers admitted on it (a route without grants admits every enabled consumer). */
export interface RouteView {
  route: string;
  readonly consumers: readonly string[];
  /** Short-term grants: consumer name → expiry (ISO-8601 UTC); absent names hold long-term grants. */
  readonly expires?: Readonly<Record<string, string>>;
  /** Grantees whose grant has expired (they get 403 grant_expired here until renewed or removed). */
  readonly expired: readonly string[];
  /** Match rules naming this route for requests without `context_extensions.route`. */
  readonly match?: readonly RouteMatchRuleView[];
  /** True: no grant list, the route admits every enabled consumer (it exists for its match rules). */
  readonly open?: true;
  updatedAt: string;
}

/** One match rule as the API takes and shows it (see docs/admin-api.md). */
export interface RouteMatchRuleView {
  readonly hosts?: readonly string[];
  readonly path?: { readonly exact: string } | { readonly prefix: string } | { readonly template: string };
  readonly methods?: readonly string[];
}

/** Every answer other than 2xx. `code` is one of ADMIN_ERRORS (src/admin/errors.ts); `message` never holds a secret. */
export interface ErrorBody {
  error: {
    code: string;
    message: string;
    /** The request field at fault, e.g. `auth.source.name`. */
    field?: string;
  };
}
