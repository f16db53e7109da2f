import { FedsecError } from '../core/errors.js';

/** Reject with a timeout error if `promise` has not settled within `timeoutMs` (no limit if undefined). */
export function withDeadline<T>(promise: Promise<T>, timeoutMs: number | undefined, what: string): Promise<T> {
  if (timeoutMs === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new FedsecError('protocol', `${what} within ${timeoutMs} ms (deadline exceeded)`)), timeoutMs);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
