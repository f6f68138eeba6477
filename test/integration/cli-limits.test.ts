/**
 * The CLI's limits and quota commands (`runCli`, in-process) against the real
 * App on the file store: set, show, clear, top-up, reset, human and --json
 * output, usage errors (exit 2) and API refusals (exit 1), and the limits
 * enforced on Check.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { denyCode, httpStatus } from '../helpers/envoy.js';

let t: TestApp;
let url: string;

beforeAll(async () => {
  t = await startApp();
  url = `http://127.0.0.1:${t.adminPort}`;
});

afterAll(async () => {
  await t.stop();
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env: { CONSUMER_AUTHZ_URL: url } });
  return { code, out, err };
}

const check = (key: string, route = 'chat') => t.envoy.check({ route, headers: { authorization: `Bearer ${key}` } });

describe('cli: limits and quota', () => {
  it('sets, shows and clears limits; Check follows them', async () => {
    expect((await cli(['consumers', 'create', 'alice', '--key', 'alice-cli-limits-key-01'])).code).toBe(0);
    const set = await cli(['limits', 'set', 'alice', '--rate', '2/m', '--route', 'chat=1/h', '--quota', '100/day', '--time-zone', 'Europe/Berlin', '--headers']);
    expect(set.code, set.err).toBe(0);
    expect(set.out).toBe('limits of alice: rate 2/minute, on chat 1/hour, quota 100/day (Europe/Berlin), RateLimit headers on allowed answers\n');
    const first = await check('alice-cli-limits-key-01');
    expect(httpStatus(first)).toBe(200);
    const second = await check('alice-cli-limits-key-01');
    expect(httpStatus(second)).toBe(429);
    expect(denyCode(second)).toBe('rate_limited');

    const show = await cli(['limits', 'show', 'alice']);
    expect(show.code).toBe(0);
    expect(show.out).toMatch(/^limits of alice: rate 2\/minute, on chat 1\/hour, quota 100\/day \(Europe\/Berlin\), RateLimit headers on allowed answers\nquota \d{4}-\d\d-\d\d: \d+ used of 100, \d+ left \(period ends .+Z\)\n$/);
    const shown = JSON.parse((await cli(['limits', 'show', 'alice', '--json'])).out);
    expect(shown.limits.quota).toEqual({ requests: 100, period: 'day', timeZone: 'Europe/Berlin' });
    expect(shown.quota.requests).toBe(100);

    const cleared = await cli(['limits', 'clear', 'alice']);
    expect(cleared.out).toBe('limits of alice: none\n');
    expect(httpStatus(await check('alice-cli-limits-key-01'))).toBe(200);
  });

  it('tops up and resets a quota', async () => {
    expect((await cli(['consumers', 'create', 'bob', '--key', 'bob-cli-limits-key-0001'])).code).toBe(0);
    expect((await cli(['limits', 'set', 'bob', '--quota', '1/month'])).code).toBe(0);
    expect(httpStatus(await check('bob-cli-limits-key-0001'))).toBe(200);
    expect(denyCode(await check('bob-cli-limits-key-0001'))).toBe('quota_exhausted');
    const top = await cli(['quota', 'top-up', 'bob', '2']);
    expect(top.code, top.err).toBe(0);
    expect(top.out).toMatch(/^quota \d{4}-\d\d: 1 used of 1 \+ 2 credits, 2 left/);
    const reset = JSON.parse((await cli(['quota', 'reset', 'bob', '--json'])).out);
    expect(reset.quota).toMatchObject({ used: 0, credits: 0, remaining: 1 });
  });

  it('refuses bad flags before calling the API (exit 2) and reports API refusals (exit 1)', async () => {
    for (const args of [
      ['limits', 'set', 'alice'],
      ['limits', 'set', 'alice', '--rate', '100'],
      ['limits', 'set', 'alice', '--rate', '100/week'],
      ['limits', 'set', 'alice', '--burst', '5'],
      ['limits', 'set', 'alice', '--route', 'chat'],
      ['limits', 'set', 'alice', '--quota', '5/year'],
      ['limits', 'set', 'alice', '--time-zone', 'UTC'],
      ['quota', 'top-up', 'alice', '-3'],
      ['quota', 'top-up', 'alice'],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(/^consumer-authz: /);
    }
    const tz = await cli(['limits', 'set', 'alice', '--quota', '5/day', '--time-zone', 'Mars/Olympus']);
    expect(tz.code).toBe(1);
    expect(tz.err).toContain('limits.quota.timeZone');
    const none = await cli(['quota', 'reset', 'alice']);
    expect(none.code).toBe(1);
    expect(none.err).toContain('no quota');
  });
});
