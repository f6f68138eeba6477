/**
 * Wraps a ConsumerStore so every asynchronous operation is counted and timed
 * by name and outcome (`ok`, `conflict`, `unavailable`, `error`). The wrapper
 * is a Proxy over the real store, so operations added to the interface later
 * are measured too; `on`, `connected` and `close` pass straight through.
 */
import { StoreConflictError, StoreUnavailableError, type ConsumerStore } from '../store/store.js';

export type StoreOutcome = 'ok' | 'conflict' | 'unavailable' | 'error';

/** Receives one finished store operation. */
export type StoreOpObserver = (op: string, outcome: StoreOutcome, seconds: number) => void;

const PASS_THROUGH = new Set<PropertyKey>(['on', 'close', 'connect', 'connected', 'constructor']);

export function instrumentStore<S extends ConsumerStore>(store: S, observe: StoreOpObserver): S {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      // Read with the real store as `this`: its #private fields are not on the proxy.
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      if (PASS_THROUGH.has(prop) || typeof prop !== 'string') return value.bind(target);
      let fn = wrapped.get(prop);
      if (!fn) {
        const op = prop;
        fn = async (...args: unknown[]) => {
          const started = process.hrtime.bigint();
          let outcome: StoreOutcome = 'ok';
          try {
            return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          } catch (err) {
            outcome = err instanceof StoreConflictError ? 'conflict' : err instanceof StoreUnavailableError ? 'unavailable' : 'error';
            throw err;
          } finally {
            observe(op, outcome, Number(process.hrtime.bigint() - started) / 1e9);
          }
        };
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });
}
