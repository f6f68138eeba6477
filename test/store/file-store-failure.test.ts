/**
 * FileStore when the file cannot be written: the write is refused as an outage
 * and NOTHING changes (memory, revision, change log), so the replica never
 * serves a consumer the admin was told was not created. A permission error is
 * logged as one, reported (admin 503 with the reason, /readyz 503) and cleared
 * by a probe once the folder is writable again. The DATA_FILE lock: one holder
 * per file, stale locks taken over, live or remote holders named.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConsumerRecord } from '../../src/consumers/model.js';
import { createLogger } from '../../src/log.js';
import { DataFileError, FileStore } from '../../src/store/file-store.js';
import { startApp, until } from '../helpers/app.js';
import { StoreUnavailableError } from '../../src/store/store.js';

const T0 = '2026-01-01T00:00:00.000Z';
function consumer(name: string, hash: string, version = 1): ConsumerRecord {
  return {
    id: `csm_${name}`, name, description: '', enabled: true, createdAt: T0, updatedAt: T0, version,
    auth: { type: 'api-key', source: { in: 'bearer' }, keys: [{ id: `key_${hash}`, hash, hint: '…', generation: 'custom', createdAt: T0, expiresAt: null }] },
  };
}

let dir: string;
let path: string;
let store: FileStore;
/** Makes every persist fail: a directory sits where the temp file goes. */
const block = () => mkdirSync(`${path}.${process.pid}.tmp`);
const unblock = () => rmdirSync(`${path}.${process.pid}.tmp`);

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cauthz-fail-'));
  path = join(dir, 'consumers.json');
  store = await FileStore.open({ path });
  await store.createConsumer(consumer('alice', 'a1'));
  await store.putRoute({ route: 'chat', consumers: ['alice'], updatedAt: T0 });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('FileStore: a write that cannot be persisted changes nothing', () => {
  it.each([
    ['createConsumer', (s: FileStore) => s.createConsumer(consumer('bob', 'b1'))],
    ['replaceConsumer', (s: FileStore) => s.replaceConsumer(consumer('alice', 'a2', 2))],
    ['deleteConsumer', (s: FileStore) => s.deleteConsumer('alice', 1)],
    ['putRoute', (s: FileStore) => s.putRoute({ route: 'chat', consumers: [], updatedAt: T0 })],
    ['deleteRoute', (s: FileStore) => s.deleteRoute('chat')],
  ] as const)('%s', async (_label, write) => {
    const before = await store.changesSince(0);
    const list = await store.listConsumers(100);
    let changed = 0;
    store.on('change', () => changed++);
    block();
    await expect(write(store)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(changed).toBe(0);
    expect(await store.changesSince(0)).toEqual(before);
    expect(await store.listConsumers(100)).toEqual(list);
    expect(await store.getRoute('chat')).toEqual({ route: 'chat', consumers: ['alice'], updatedAt: T0 });
    // hash ownership is unchanged: a1 still alice's, b1/a2 still free
    unblock();
    await expect(store.createConsumer(consumer('carol', 'a1'))).rejects.toMatchObject({ code: 'credential_conflict' });
    await store.createConsumer(consumer('dave', 'b1'));
    await store.createConsumer(consumer('erin', 'a2'));
    // and the store works again, revisions continuing
    expect((await store.changesSince(before.rev)).consumers.has('erin')).toBe(true);
    // and the file holds exactly that (reopened: the lock allows one open store per file)
    await store.close();
    store = await FileStore.open({ path });
    expect((await store.getConsumer('alice'))?.version).toBe(1);
    expect((await store.getConsumer('erin'))?.name).toBe('erin');
  });
});

describe('FileStore: the DATA_FILE lock', () => {
  it('a second open of the same file in this process is refused; after close it opens again', async () => {
    await expect(FileStore.open({ path })).rejects.toThrow(new DataFileError(`DATA_FILE=${path}: already open in this process (pid ${process.pid}); open it once and share the store`));
    await store.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
    store = await FileStore.open({ path });
    expect((await store.getConsumer('alice'))?.name).toBe('alice');
  });

  const otherPath = () => join(dir, 'other.json');
  const lockOf = (h: Record<string, unknown>) => JSON.stringify({ host: hostname(), startedAt: T0, token: 'theirs', ...h });

  it('a lock left by a dead process on this host is taken over', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(`${otherPath()}.lock`, lockOf({ pid: Number(dead.stdout) }));
    const s = await FileStore.open({ path: otherPath() });
    expect(JSON.parse(readFileSync(`${otherPath()}.lock`, 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() });
    await s.close();
  });

  it('a lock with our pid that is not ours (a restart that got the same pid, as PID 1 in a container) is taken over', async () => {
    writeFileSync(`${otherPath()}.lock`, lockOf({ pid: process.pid }));
    const s = await FileStore.open({ path: otherPath() });
    await s.close();
  });

  it('a live holder is refused, naming it; so is one on another host, with how to clear it', async () => {
    writeFileSync(`${otherPath()}.lock`, lockOf({ pid: process.ppid }));
    await expect(FileStore.open({ path: otherPath() })).rejects.toThrow(`DATA_FILE=${otherPath()}: in use by another consumer-authz (pid ${process.ppid} on host ${hostname()}, started ${T0}); stop it first`);
    writeFileSync(`${otherPath()}.lock`, lockOf({ pid: 1, host: 'elsewhere' }));
    await expect(FileStore.open({ path: otherPath() })).rejects.toThrow(
      `DATA_FILE=${otherPath()}: locked by another consumer-authz (pid 1 on host elsewhere, started ${T0}), a different host: the file is on a shared filesystem or volume. Only one instance may use a DATA_FILE (several need REDIS_URL); if that instance is gone, delete ${otherPath()}.lock`,
    );
    expect(existsSync(otherPath())).toBe(false);
  });

  it('a lock removed and taken by another process stops this one writing', async () => {
    rmSync(`${path}.lock`);
    writeFileSync(`${path}.lock`, lockOf({ pid: process.ppid }));
    await expect(store.createConsumer(consumer('bob', 'b1'))).rejects.toMatchObject({ detail: expect.stringContaining('no longer holds the DATA_FILE lock') });
    expect(store.fault).toContain('no longer holds the DATA_FILE lock');
    rmSync(`${path}.lock`);
  });
});

describe('FileStore: permission errors at run time', () => {
  it('a write to an unwritable folder is refused with the reason, logged as a permission error, and the store recovers by itself', async () => {
    const folder = join(dir, 'mnt');
    mkdirSync(folder);
    const fs = writableFolder(folder);
    const lines: string[] = [];
    const logger = createLogger('info', { write: (l: string) => void lines.push(l) });
    const p = join(folder, 'consumers.json');
    const s = await FileStore.open({ path: p, logger, probeIntervalMs: 50 });
    try {
      await s.createConsumer(consumer('bob', 'b1'));
      fs.readOnly();
      const err = await s.createConsumer(consumer('carol', 'c1')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      const detail = (err as StoreUnavailableError).detail;
      expect(detail).toMatch(/^the data file cannot be written \((EROFS: read-only filesystem|EACCES: permission denied)\); nothing was changed$/);
      expect(detail).not.toContain(folder);
      expect(s.fault).toMatch(/^the data file cannot be written/);
      const logged = lines.map((l) => JSON.parse(l)).find((l) => l.level === 50);
      expect(logged).toMatchObject({ code: expect.stringMatching(/^(EROFS|EACCES)$/), path: p });
      expect(logged.msg).toMatch(/^data file permission error: /);
      expect(await s.getConsumer('carol')).toBeUndefined();
      fs.writable();
      await until(() => s.fault === undefined, 3000, 20);
      expect(lines.some((l) => l.includes('data file writable again'))).toBe(true);
      await s.createConsumer(consumer('carol', 'c1'));
    } finally {
      await s.close();
      fs.release();
    }
  });

  it('through the App: admin 503 store_unavailable naming the problem, /readyz 503 until writes work again', async () => {
    const folder = join(dir, 'app');
    mkdirSync(folder);
    const fs = writableFolder(folder);
    const lines: string[] = [];
    const t = await startApp({ dataFile: join(folder, 'consumers.json'), logger: createLogger('info', { write: (l: string) => void lines.push(l) }) });
    try {
      expect((await t.admin('GET', '/readyz')).status).toBe(200);
      fs.readOnly();
      const r = await t.admin('POST', '/v1/consumers', { name: 'bob', auth: { type: 'api-key' } });
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('store_unavailable');
      expect(r.body.error.message).toMatch(/^the data file cannot be written \((EROFS: read-only filesystem|EACCES: permission denied)\); nothing was changed$/);
      const readyz = await t.admin('GET', '/readyz');
      expect(readyz.status).toBe(503);
      expect(readyz.body).toMatchObject({ ready: false, storeFault: expect.stringMatching(/^the data file cannot be written/) });
      expect(lines.some((l) => l.includes('"level":50') && l.includes('data file permission error'))).toBe(true);
      fs.writable();
      await until(async () => (await t.admin('GET', '/readyz')).status === 200, 5000, 50);
      expect((await t.admin('POST', '/v1/consumers', { name: 'bob', auth: { type: 'api-key' } })).status).toBe(201);
    } finally {
      await t.stop();
      fs.release();
    }
  });
});

/**
 * A folder whose writability a test can switch: a tmpfs remounted read-only
 * when root (root ignores file modes), else chmod.
 */
function writableFolder(folder: string): { readOnly(): void; writable(): void; release(): void } {
  if (process.getuid?.() === 0) {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', folder]);
    return {
      readOnly: () => execFileSync('mount', ['-o', 'remount,ro', folder]),
      writable: () => execFileSync('mount', ['-o', 'remount,rw', folder]),
      release: () => execFileSync('umount', [folder]),
    };
  }
  return {
    readOnly: () => execFileSync('chmod', ['0555', folder]),
    writable: () => execFileSync('chmod', ['0755', folder]),
    release: () => execFileSync('chmod', ['0755', folder]),
  };
}
