/**
 * Data as the previous release (store layout 1: full records only, no
 * `q:<name>` check records, no `layout` key) wrote it, for upgrade tests:
 * a seeder, and that release's consumer writes (the record, the key-hash
 * index, the names set, the revision, the change-log entry, the history
 * entry and the notification, and nothing else).
 */
import type { Redis } from 'ioredis';
import { credentialHashes, type ConsumerRecord } from '../../src/consumers/model.js';

/** The previous release's write tail: INCR rev, ZADD log, HSET hist, PUBLISH. KEYS: rev, log, hist; ARGV: entity, channel. */
const TAIL = `
local rev = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], rev, ARGV[1])
local now = redis.call('TIME')
redis.call('HSET', KEYS[3], rev, now[1] .. '.' .. now[2])
redis.call('PUBLISH', ARGV[2], rev)
return rev
`;

/** Seeds `recs` in one pipeline per 2000, each with its own revision, as layout 1 holds them. */
export async function seedPreviousLayout(redis: Redis, prefix: string, recs: readonly ConsumerRecord[]): Promise<void> {
  let rev = Number((await redis.get(`${prefix}rev`)) ?? 0);
  for (let i = 0; i < recs.length; i += 2000) {
    const p = redis.pipeline();
    for (const rec of recs.slice(i, i + 2000)) {
      p.set(`${prefix}c:${rec.name}`, JSON.stringify(rec));
      for (const h of credentialHashes(rec)) p.set(`${prefix}k:${h}`, rec.name);
      p.zadd(`${prefix}names`, 0, rec.name);
      p.zadd(`${prefix}log`, ++rev, `c:${rec.name}`);
    }
    p.set(`${prefix}rev`, rev);
    await p.exec();
  }
}

/** A consumer replaced by a previous-release instance: the record and its log entry move, its check record does not. */
export async function previousReleaseReplace(redis: Redis, prefix: string, rec: ConsumerRecord): Promise<number> {
  await redis.set(`${prefix}c:${rec.name}`, JSON.stringify(rec));
  return (await redis.eval(TAIL, 3, `${prefix}rev`, `${prefix}log`, `${prefix}hist`, `c:${rec.name}`, `${prefix}events`)) as number;
}

/** A consumer deleted by a previous-release instance: its check record, unknown to that release, stays behind. */
export async function previousReleaseDelete(redis: Redis, prefix: string, rec: ConsumerRecord): Promise<number> {
  await redis.del(`${prefix}c:${rec.name}`, ...credentialHashes(rec).map((h) => `${prefix}k:${h}`));
  await redis.zrem(`${prefix}names`, rec.name);
  return (await redis.eval(TAIL, 3, `${prefix}rev`, `${prefix}log`, `${prefix}hist`, `c:${rec.name}`, `${prefix}events`)) as number;
}
