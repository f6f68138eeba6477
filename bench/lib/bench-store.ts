/** A RedisStore for the bench's seeding: connected before `use`, closed after it, whatever it throws. */
import { RedisStore } from '../../src/store/redis-store.js';

export async function withRedisStore<T>(url: string, prefix: string, use: (store: RedisStore) => Promise<T>): Promise<T> {
  const store = new RedisStore({ url, keyPrefix: prefix });
  const up = new Promise<void>((resolve) => store.on('up', resolve));
  store.connect();
  try {
    if (!store.connected) await up;
    return await use(store);
  } finally {
    await store.close();
  }
}
