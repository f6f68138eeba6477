/**
 * The consumer model's one error: input that breaks a rule of the model. It
 * names the field at fault and what is wrong with it, and knows no transport:
 * the admin server maps it to an HTTP answer (src/admin/errors.ts,
 * `adminErrorOf`). `message` is safe to show: it never holds a secret.
 */
export class InvalidInputError extends Error {
  /** Stable code, the same for every rule broken. */
  readonly code = 'invalid_input' as const;
  /** The input field at fault, e.g. `auth.source.name`. */
  readonly field: string;

  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = 'InvalidInputError';
    this.field = field;
  }
}

/** An input error that names the field and says what is wrong with it. */
export function invalid(field: string, problem: string): InvalidInputError {
  return new InvalidInputError(field, problem);
}
