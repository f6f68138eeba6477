/**
 * Seeds Redis with consumers fast, writing records in the RedisStore's own
 * layout (see src/store/redis-store.ts) with pipelined batches instead of one
 * Lua script per consumer: c:<name> (record JSON), q:<name> (its check
 * record, stamped with its revision), k:<hash> → name, names (sorted set),
 * log (entity → revision), rev, layout. The service then loads them exactly
 * as it would load consumers created through the admin API. With layout 1
 * (the previous release's) there are no q: records and no layout key: what
 * an upgrade starts from.
 *
 * Consumer i is `bench-<i>` with the deterministic system-format key
 * `benchKey(i)`; the key hashes are SHA-256 like every stored key.
 */
import { Redis } from 'ioredis';
import { hashKey, keyHint, SYSTEM_KEY_LENGTH, SYSTEM_KEY_PREFIX } from '../../src/consumers/api-keys.js';
import { checkRecordTail } from '../../src/consumers/check-record.js';
import { credentialHashes, type ConsumerRecord } from '../../src/consumers/model.js';
import { LAYOUT_VERSION } from '../../src/store/redis-store.js';
import { crc32 } from 'node:zlib';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function base62(n: number, width: number): string {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** A valid system-format key (prefix, 32 body chars, CRC-32 checksum) derived from `seed`. */
export function systemKeyFrom(seed: string): string {
  let body = '';
  let h = crc32(seed);
  for (let i = 0; i < 32; i++) {
    h = crc32(String(h), h);
    body += ALPHABET[h % 62];
  }
  const head = SYSTEM_KEY_PREFIX + body;
  const key = head + base62(crc32(head), 6);
  if (key.length !== SYSTEM_KEY_LENGTH) throw new Error('bad key length');
  return key;
}

export function benchKey(i: number): string {
  return systemKeyFrom(`bench-consumer-${i}`);
}

export function benchName(i: number): string {
  return `bench-${i}`;
}

const T = '2026-01-01T00:00:00.000Z';

export function benchRecord(i: number, key: string): ConsumerRecord {
  const hex = i.toString(16).padStart(16, '0');
  return {
    id: `csm_${hex}`,
    name: benchName(i),
    description: '',
    enabled: true,
    createdAt: T,
    updatedAt: T,
    version: 1,
    auth: {
      type: 'api-key',
      source: { in: 'bearer' },
      keys: [{ id: `key_${hex}`, hash: hashKey(key), hint: keyHint(key), generation: 'system', createdAt: T, expiresAt: null }],
    },
  };
}

/** Which store layout a seed writes: the current one (with check records) or the previous one. */
export type SeedLayout = 1 | typeof LAYOUT_VERSION;

/**
 * Adds consumers [from, to) to the store under `prefix`. Returns the time taken.
 */
export async function seedConsumers(url: string, from: number, to: number, prefix = 'cauthz:', layout: SeedLayout = LAYOUT_VERSION): Promise<number> {
  return seedRecords(url, from, to, (i) => benchRecord(i, benchKey(i)), prefix, layout);
}

/** Writes `make(i)` for i in [from, to) in the given layout. Returns the time taken (ms). */
export async function seedRecords(
  url: string,
  from: number,
  to: number,
  make: (i: number) => ConsumerRecord,
  prefix = 'cauthz:',
  layout: SeedLayout = LAYOUT_VERSION,
): Promise<number> {
  const started = Date.now();
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let rev = Number((await redis.get(`${prefix}rev`)) ?? 0);
    if (layout === 1 && rev === 0) await redis.del(`${prefix}layout`);
    const BATCH = 5000;
    for (let start = from; start < to; start += BATCH) {
      const end = Math.min(to, start + BATCH);
      const kv: string[] = [];
      const names: (string | number)[] = [];
      const log: (string | number)[] = [];
      for (let i = start; i < end; i++) {
        const rec = make(i);
        kv.push(`${prefix}c:${rec.name}`, JSON.stringify(rec));
        for (const h of credentialHashes(rec)) kv.push(`${prefix}k:${h}`, rec.name);
        names.push(0, rec.name);
        log.push(++rev, `c:${rec.name}`);
        if (layout !== 1) kv.push(`${prefix}q:${rec.name}`, `[${rev},${checkRecordTail(rec)}`);
      }
      await redis.pipeline().mset(...kv).zadd(`${prefix}names`, ...names).zadd(`${prefix}log`, ...log).set(`${prefix}rev`, rev).exec();
    }
    if (layout !== 1) await redis.set(`${prefix}layout`, String(layout));
    await redis.publish(`${prefix}events`, String(rev));
  } finally {
    redis.disconnect();
  }
  return Date.now() - started;
}

/** Total calls per command from INFO commandstats. */
export async function commandStats(url: string): Promise<Record<string, number>> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const info = await redis.info('commandstats');
    const out: Record<string, number> = {};
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1] as string] = Number(m[2]);
    return out;
  } finally {
    redis.disconnect();
  }
}
