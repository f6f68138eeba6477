/**
 * The embedded store's exclusive lock: `<DATA_FILE>.lock`, created with
 * O_CREAT|O_EXCL and holding {pid, host, bootId, procStart, startedAt, token}.
 *
 * Why a lock file and not flock(2): Node has no flock, and a native addon is
 * a build dependency for one call. Why not a heartbeat lock (proper-lockfile):
 * its staleness is an mtime timeout, so after a kill -9 the next start must
 * wait the timeout out, and a holder paused longer than it (SIGSTOP, a VM
 * freeze) silently loses its lock to a second writer. Here a lock is stale only
 * when its holder provably no longer runs: same host and boot, and the pid is
 * gone (ESRCH) or now belongs to a process that started at another time
 * (/proc/<pid>/stat), or it is our own pid but not our lock (a container
 * restarted as PID 1 again). A holder on another host (the file is on a shared
 * filesystem, or another container's hostname) cannot be checked, so it is
 * refused; the message says how to clear it.
 *
 * Taking over a stale lock is serialised by a second O_EXCL file
 * (`.lock.takeover`): only its holder may remove the stale lock, and it re-reads
 * and re-judges the lock first, so two starters racing on one stale lock cannot
 * both win (the loser finds the winner's live lock). The holder also re-reads
 * its lock before each write (`verify`), so a lock deleted by hand and taken by
 * another process stops this one writing instead of letting both diverge.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';

interface Holder {
  pid: number;
  host: string;
  bootId?: string;
  /** Start time of the holder process in clock ticks since boot (Linux /proc/<pid>/stat field 22). */
  procStart?: string;
  startedAt: string;
  token: string;
}

/** DATA_FILE is locked by a process that is still running (or cannot be checked). */
export class DataFileLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataFileLockedError';
  }
}

/** Locks held by this process, by absolute lock path (the lock is per process, so this is too). */
const held = new Set<string>();

const TAKEOVER_STALE_MS = 5_000;
/** An unreadable lock younger than this may be one being written right now. */
const FRESH_LOCK_MS = 2_000;

export class DataFileLock {
  readonly path: string;
  readonly #token: string;
  #released = false;

  private constructor(path: string, token: string) {
    this.path = path;
    this.#token = token;
  }

  /**
   * Takes `<dataFile>.lock`; throws DataFileLockedError naming the holder when
   * another live process has it. Other errors (EACCES, ENOTDIR, …) pass through.
   */
  static async acquire(dataFile: string, label = dataFile): Promise<DataFileLock> {
    const path = `${resolve(dataFile)}.lock`;
    if (held.has(path)) {
      throw new DataFileLockedError(`DATA_FILE=${label}: already open in this process (pid ${process.pid}); open it once and share the store`);
    }
    const me = self();
    const body = JSON.stringify(me);
    const deadline = Date.now() + 5_000;
    for (;;) {
      if (Date.now() > deadline) throw new DataFileLockedError(`DATA_FILE=${label}: could not take the lock ${path} (other processes keep racing for it)`);
      if (await createExclusive(path, body)) {
        held.add(path);
        return new DataFileLock(path, me.token);
      }
      const holder = await readHolder(path);
      if (holder === 'gone') continue;
      if (holder === 'unreadable') {
        // Empty or garbage: a crash between create and write, or a writer mid-write.
        if ((await ageMs(path)) < FRESH_LOCK_MS && Date.now() < deadline) {
          await pause(50);
          continue;
        }
      } else if (!isStale(holder, me)) {
        throw new DataFileLockedError(refusal(label, path, holder, me));
      }
      await takeOver(path, holder);
    }
  }

  /** True while the lock file still holds this process's token. */
  async verify(): Promise<boolean> {
    if (this.#released) return false;
    const holder = await readHolder(this.path);
    return typeof holder === 'object' && holder.token === this.#token;
  }

  /** Removes the lock (only if it is still ours). */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    held.delete(this.path);
    if (await verifyToken(this.path, this.#token)) await unlink(this.path).catch(() => undefined);
  }
}

async function verifyToken(path: string, token: string): Promise<boolean> {
  const holder = await readHolder(path);
  return typeof holder === 'object' && holder.token === token;
}

/** Creates `path` with `body` only if it does not exist; false on EEXIST. */
async function createExclusive(path: string, body: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await fh.writeFile(body);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return true;
}

async function readHolder(path: string): Promise<Holder | 'gone' | 'unreadable'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  try {
    const h = JSON.parse(text) as Holder;
    if (Number.isInteger(h.pid) && typeof h.host === 'string' && typeof h.token === 'string' && typeof h.startedAt === 'string') return h;
  } catch {
    // fall through
  }
  return 'unreadable';
}

/**
 * Removes a stale lock under the takeover mutex, after judging it again: the
 * lock we saw may have been replaced meanwhile by a live one.
 */
async function takeOver(path: string, seen: Holder | 'unreadable'): Promise<void> {
  const mutex = `${path}.takeover`;
  if (!(await createExclusive(mutex, JSON.stringify(self())))) {
    // Someone else is taking over; a taker that died mid-way leaves an old mutex.
    if ((await ageMs(mutex)) > TAKEOVER_STALE_MS) await unlink(mutex).catch(() => undefined);
    else await pause(20);
    return;
  }
  try {
    const now = await readHolder(path);
    const same =
      now === 'gone' ||
      (now === 'unreadable' && seen === 'unreadable') ||
      (typeof now === 'object' && typeof seen === 'object' && now.token === seen.token);
    if (same && now !== 'gone') await unlink(path).catch(() => undefined);
  } finally {
    await unlink(mutex).catch(() => undefined);
  }
}

function isStale(h: Holder, me: Holder): boolean {
  if (h.host !== me.host) return false; // cannot be checked from here
  if (h.bootId && me.bootId && h.bootId !== me.bootId) return true; // the machine rebooted since
  if (h.pid === me.pid) return true; // our pid, not our lock (held locks were refused above): a restart reusing the pid
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
    return false; // EPERM: alive, another user's
  }
  // Killed but not yet reaped by its parent (a zombie) holds nothing.
  const state = procStat(h.pid)?.[0];
  if (state === 'Z' || state === 'X') return true;
  // Alive: the same process, or the pid reused by another one since.
  const start = procStart(h.pid);
  return h.procStart !== undefined && start !== undefined && start !== h.procStart;
}

function refusal(label: string, path: string, h: Holder, me: Holder): string {
  const who = `pid ${h.pid} on host ${h.host}, started ${h.startedAt}`;
  if (h.host !== me.host) {
    return (
      `DATA_FILE=${label}: locked by another consumer-authz (${who}), a different host: the file is on a shared ` +
      `filesystem or volume. Only one instance may use a DATA_FILE (several need REDIS_URL); if that instance is gone, delete ${path}`
    );
  }
  return `DATA_FILE=${label}: in use by another consumer-authz (${who}); stop it first. Only one instance may use a DATA_FILE (several need REDIS_URL)`;
}

function self(): Holder {
  return {
    pid: process.pid,
    host: hostname(),
    bootId: readText('/proc/sys/kernel/random/boot_id'),
    procStart: procStart(process.pid),
    startedAt: new Date(Date.now() - process.uptime() * 1000).toISOString(),
    token: randomUUID(),
  };
}

/** Fields 3… of /proc/<pid>/stat (state first); undefined off Linux. */
function procStat(pid: number): string[] | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name (field 2) is in parentheses and may contain spaces.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Field 22 (starttime) of /proc/<pid>/stat; undefined off Linux. */
function procStart(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

async function ageMs(path: string): Promise<number> {
  try {
    return Date.now() - (await stat(path)).mtimeMs;
  } catch {
    return Infinity;
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
