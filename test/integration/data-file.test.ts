/**
 * The embedded store's file as an operator meets it, with the built service
 * as real processes: one process per DATA_FILE (a second is refused, naming
 * the holder; a kill -9 leaves a lock the next start takes over, with every
 * acknowledged write), a corrupt or misplaced DATA_FILE and a port in use stop
 * the start with one line and exit code 2 (no stack trace, no file content),
 * and SIGTERM while a write is stuck in the kernel still exits.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvoyClient, httpStatus } from '../helpers/envoy.js';
import { freePort } from '../helpers/redis.js';
import { startService, type Service } from '../helpers/service.js';

const SECRET = 'hs256-secret-that-must-never-be-printed-0123456789';

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'cauthz-datafile-'));
}

/** The service's own lines on stderr (grpc-js may add its own "E …" line), and proof there is no stack trace. */
function oneLine(svc: Service): string {
  const all = svc.err() + svc.out();
  expect(all).not.toMatch(/^\s+at /m);
  const lines = all.split('\n').filter((l) => l.startsWith('consumer-authz:'));
  expect(lines, all).toHaveLength(1);
  return lines[0] as string;
}

async function refusedAtStart(env: Record<string, string>): Promise<string> {
  const svc = await startService(env);
  const timer = setTimeout(() => svc.kill('SIGKILL'), 15_000);
  const code = await svc.exited;
  clearTimeout(timer);
  expect(code, svc.err()).toBe(2);
  return oneLine(svc);
}

describe('one process per DATA_FILE', () => {
  it('a second process is refused naming the holder; after kill -9 of the first, one new start takes over with every acknowledged write', async () => {
    const dataFile = join(scratch(), 'consumers.json');
    const first = await startService({ DATA_FILE: dataFile });
    await first.ready();
    const keys = new Map<string, string>();
    const create = async (svc: Service, name: string) => {
      const r = await svc.admin('POST', '/v1/consumers', { name, auth: { type: 'api-key' } });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      keys.set(name, r.body.apiKey);
    };
    for (let i = 0; i < 10; i++) await create(first, `c${i}`);

    const second = await startService({ DATA_FILE: dataFile });
    expect(await second.exited).toBe(2);
    const line = oneLine(second);
    expect(line).toContain(`DATA_FILE=${dataFile}`);
    expect(line).toContain(`pid ${first.proc.pid} on host ${hostname()}`);
    expect(line).toMatch(/started \d{4}-\d\d-\d\dT/);

    // The first keeps serving and writing.
    for (let i = 10; i < 20; i++) await create(first, `c${i}`);
    first.kill('SIGKILL');
    await first.exited;

    // Three starters race on the stale lock: exactly one wins.
    const starters = await Promise.all([0, 1, 2].map(() => startService({ DATA_FILE: dataFile })));
    const outcomes = await Promise.all(
      starters.map((s) => Promise.race([s.ready(15_000).then(() => 'ready' as const), s.exited.then((c) => c)])),
    );
    expect(outcomes.filter((o) => o === 'ready'), JSON.stringify(outcomes)).toHaveLength(1);
    const winner = starters[outcomes.indexOf('ready')] as Service;
    for (const s of starters) if (s !== winner) expect(await s.exited).toBe(2);

    const list = await winner.admin('GET', '/v1/consumers?limit=100');
    const names = (list.body.items as Array<{ name: string }>).map((c) => c.name).sort();
    expect(names).toEqual([...keys.keys()].sort());
    expect(new Set(names).size).toBe(20);
    const envoy = new EnvoyClient(winner.grpcPort);
    try {
      for (const key of keys.values()) expect(httpStatus(await envoy.check({ headers: { authorization: `Bearer ${key}` } }))).toBe(200);
    } finally {
      envoy.close();
    }
    winner.kill('SIGTERM');
    expect(await winner.exited).toBe(0);
    // A clean stop removes the lock.
    expect(() => readFileSync(`${dataFile}.lock`)).toThrow(/ENOENT/);
  }, 60_000);
});

describe.concurrent('a corrupt DATA_FILE', () => {
  it.each([
    ['a JSON syntax error', `{"format":"consumer-authz/1","epoch":"e","rev":1,\n"consumers":[{"name":"a","secret":"${SECRET}",}]}`, /not valid JSON at byte 1\d\d \(line 2\)/],
    ['a truncated file', `{"format":"consumer-authz/1","consumers":[{"secret":"${SECRET}"`, /not valid JSON at byte \d+ \(line 1\)/],
    ['an empty file', '', /not valid JSON \(the file is empty\)/],
    ['JSON that is not a data file', JSON.stringify({ secret: SECRET }), /has no "format": "consumer-authz\/1"/],
    ['a list', JSON.stringify([SECRET]), /is not a JSON object/],
    ['a record without credentials', JSON.stringify({ format: 'consumer-authz/1', epoch: 'e', rev: 1, consumers: [{ name: 'a', secret: SECRET }], routes: [], log: {} }), /consumer #1 has no valid credentials/],
  ])('%s: one line naming DATA_FILE and the problem, no file content, exit 2', async (_label, content, problem) => {
    const dataFile = join(scratch(), 'consumers.json');
    writeFileSync(dataFile, content);
    const line = await refusedAtStart({ DATA_FILE: dataFile, LOG_LEVEL: 'trace' });
    expect(line).toMatch(new RegExp(`^consumer-authz: DATA_FILE=${dataFile.replace(/[.]/g, '\\.')}: `));
    expect(line).toMatch(problem);
    expect(line).toContain('restore it from a backup or move it away');
    expect(line).not.toContain(SECRET.slice(0, 12));
  });
});

describe.concurrent('a DATA_FILE that cannot be used', () => {
  it('under a file: names the file that is not a directory', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'plain'), 'x');
    const line = await refusedAtStart({ DATA_FILE: join(dir, 'plain', 'sub', 'consumers.json') });
    expect(line).toBe(`consumer-authz: DATA_FILE=${join(dir, 'plain', 'sub', 'consumers.json')}: ${join(dir, 'plain')} is not a directory; choose a DATA_FILE whose folder is a directory (or can be created)`);
  });

  it.each(['/proc/consumer-authz/consumers.json', '/proc/consumers.json', '/sys/consumers.json'])('on a pseudo-filesystem (%s): refused at once, not ready-then-hang', async (dataFile) => {
    const line = await refusedAtStart({ DATA_FILE: dataFile });
    expect(line).toMatch(new RegExp(`^consumer-authz: DATA_FILE=${dataFile}: /(proc|sys) is on a (proc|sysfs) pseudo-filesystem, which cannot hold a data file; choose a path on a disk`));
  });

  it('a directory, or not a regular file', async () => {
    const dir = scratch();
    expect(await refusedAtStart({ DATA_FILE: dir })).toBe(`consumer-authz: DATA_FILE=${dir}: is a directory; point DATA_FILE at a file (it is created when missing)`);
    expect(await refusedAtStart({ DATA_FILE: '/dev/null' })).toContain('DATA_FILE=/dev/null: is not a regular file');
  });

  it('a folder the service cannot write: the probe write fails with the errno and the fix', async () => {
    const dir = scratch();
    const folder = join(dir, 'ro');
    mkdirSync(folder);
    const undo = makeReadOnly(folder);
    try {
      const line = await refusedAtStart({ DATA_FILE: join(folder, 'consumers.json') });
      expect(line).toMatch(new RegExp(`^consumer-authz: DATA_FILE=${join(folder, 'consumers.json')}: cannot create its lock file .*\\((EROFS: read-only filesystem|EACCES: permission denied)\\); give the service user write access`));
    } finally {
      undo();
    }
  });
});

describe.concurrent('a port in use', () => {
  it.each(['GRPC_PORT', 'ADMIN_PORT'])('%s: one line naming the variable and the address, exit 2', async (variable) => {
    const port = await freePort();
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    try {
      const line = await refusedAtStart({ DATA_FILE: join(scratch(), 'consumers.json'), [variable]: String(port) });
      expect(line).toBe(`consumer-authz: ${variable}=${port}: address 127.0.0.1:${port} is already in use; stop the other process or choose another port`);
    } finally {
      blocker.close();
    }
  });

  it('GRPC_HOST not an address of this machine', async () => {
    const line = await refusedAtStart({ DATA_FILE: join(scratch(), 'consumers.json'), GRPC_HOST: '192.0.2.1' });
    expect(line).toMatch(/^consumer-authz: GRPC_HOST=192\.0\.2\.1: address 192\.0\.2\.1:\d+ is not an address of this machine/);
  });
});

describe('SIGTERM while a write is stuck', () => {
  it('exits within LAME_DUCK_MS + DRAIN_MS + the bound on closing the store', async () => {
    const dataFile = join(scratch(), 'consumers.json');
    const svc = await startService({ DATA_FILE: dataFile, LAME_DUCK_MS: '0', DRAIN_MS: '500' });
    await svc.ready();
    // A FIFO with no reader where the write's temp file goes: open() blocks in the kernel.
    execFileSync('mkfifo', [`${dataFile}.${svc.proc.pid}.tmp`]);
    const stuck = svc.admin('POST', '/v1/consumers', { name: 'stuck', auth: { type: 'api-key' } }).catch(() => 'no answer');
    await new Promise((r) => setTimeout(r, 200)); // let the write reach open(); nothing to await from outside
    const started = Date.now();
    svc.kill('SIGTERM');
    const timer = setTimeout(() => svc.kill('SIGKILL'), 15_000);
    const code = await svc.exited;
    clearTimeout(timer);
    expect(Date.now() - started).toBeLessThan(8_000);
    // Ended by itself (exit code, or its own SIGTERM default action when the write never returns), not by our SIGKILL.
    expect(svc.proc.signalCode === 'SIGTERM' || code !== null).toBe(true);
    expect(svc.err()).toContain('a data file operation is stuck in the kernel');
    await stuck;
  }, 20_000);
});

/** Makes a folder unwritable for the service: a read-only tmpfs when root (root ignores modes), else chmod. */
function makeReadOnly(folder: string): () => void {
  if (process.getuid?.() === 0) {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', folder]);
    return () => execFileSync('umount', [folder]);
  }
  execFileSync('chmod', ['0555', folder]);
  return () => execFileSync('chmod', ['0755', folder]);
}
