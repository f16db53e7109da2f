/**
 * Every error fedsec raises on purpose is a FedsecError: a stable code for programs, and a
 * message that says what went wrong *and what to change* for people.
 */
export type FedsecErrorCode =
  | 'config'
  | 'data'
  | 'shape'
  | 'non-finite'
  | 'precondition'
  | 'protocol'
  | 'auth'
  | 'budget'
  | 'model'
  | 'io'
  | 'internal';

export class FedsecError extends Error {
  readonly code: FedsecErrorCode;
  readonly hint: string | undefined;

  constructor(code: FedsecErrorCode, message: string, hint?: string) {
    super(hint ? `${message} — ${hint}` : message);
    this.name = 'FedsecError';
    this.code = code;
    this.hint = hint;
  }
}

export function fail(code: FedsecErrorCode, message: string, hint?: string): never {
  throw new FedsecError(code, message, hint);
}
