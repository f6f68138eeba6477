import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/consumers/errors.js';
import { consumerLimits, quotaPeriod } from '../../src/consumers/limits.js';

function refusal(v: unknown): { field: string | undefined; message: string } {
  try {
    consumerLimits(v);
  } catch (err) {
    if (err instanceof InvalidInputError) return { field: err.field, message: err.message };
    throw err;
  }
  throw new Error(`accepted: ${JSON.stringify(v)}`);
}

describe('consumer limits: validation', () => {
  it('takes rate, route and quota limits, spelled out', () => {
    expect(consumerLimits({ rate: { requests: 100, per: 'second', burst: 20 }, routes: { chat: { requests: 5, per: 'minute' } }, quota: { requests: 10_000, period: 'day', timeZone: 'Europe/Berlin' }, headers: true })).toEqual({
      rate: { requests: 100, per: 'second', burst: 20 },
      routes: { chat: { requests: 5, per: 'minute' } },
      quota: { requests: 10_000, period: 'day', timeZone: 'Europe/Berlin' },
      headers: true,
    });
  });

  it('null or an empty object removes them; undefined keeps them', () => {
    expect(consumerLimits(null)).toBeNull();
    expect(consumerLimits({})).toBeNull();
    expect(consumerLimits({ rate: null, routes: {} })).toBeNull();
    expect(consumerLimits(undefined)).toBeUndefined();
  });

  it('refuses every malformed field, naming it', () => {
    const cases: Array<[unknown, string]> = [
      [[], 'limits'],
      ['10/s', 'limits'],
      [{ rate: { requests: 0, per: 'second' } }, 'limits.rate.requests'],
      [{ rate: { requests: 1.5, per: 'second' } }, 'limits.rate.requests'],
      [{ rate: { requests: '10', per: 'second' } }, 'limits.rate.requests'],
      [{ rate: { requests: 1e10, per: 'second' } }, 'limits.rate.requests'],
      [{ rate: { requests: 10, per: 'day' } }, 'limits.rate.per'],
      [{ rate: { requests: 10 } }, 'limits.rate.per'],
      [{ rate: { requests: 10, per: 'second', burst: -1 } }, 'limits.rate.burst'],
      [{ rate: { requests: 10, per: 'second', extra: 1 } }, 'limits.rate.extra'],
      [{ routes: { 'bad route': { requests: 1, per: 'second' } } }, 'limits.routes.bad route'],
      [{ routes: { chat: { requests: 1, per: 'week' } } }, 'limits.routes.chat.per'],
      [{ routes: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`r${i}`, { requests: 1, per: 'second' }])) }, 'limits.routes'],
      [{ quota: { requests: 10, period: 'week' } }, 'limits.quota.period'],
      [{ quota: { requests: 10, period: 'day', timeZone: 'Mars/Olympus' } }, 'limits.quota.timeZone'],
      [{ quota: { requests: 10, period: 'day', timeZone: 7 } }, 'limits.quota.timeZone'],
      [{ headers: 'yes', rate: { requests: 1, per: 'second' } }, 'limits.headers'],
      [{ headers: true }, 'limits.headers'],
      [{ rates: {} }, 'limits.rates'],
    ];
    for (const [input, field] of cases) expect(refusal(input).field, JSON.stringify(input)).toBe(field);
  });
});

describe('quota periods', () => {
  it('a UTC day and month', () => {
    const at = Date.parse('2026-12-03T10:20:30Z');
    expect(quotaPeriod({ requests: 1, period: 'day' }, at)).toEqual({ id: '2026-12-03', startMs: Date.parse('2026-12-03T00:00:00Z'), endMs: Date.parse('2026-12-04T00:00:00Z') });
    expect(quotaPeriod({ requests: 1, period: 'month' }, at)).toEqual({ id: '2026-12', startMs: Date.parse('2026-12-01T00:00:00Z'), endMs: Date.parse('2027-01-01T00:00:00Z') });
  });

  it('a day in a time zone starts at its local midnight, also across a DST change', () => {
    const berlin = { requests: 1, period: 'day' as const, timeZone: 'Europe/Berlin' };
    // 23:30 UTC on 3 Dec is already 4 Dec in Berlin (UTC+1).
    expect(quotaPeriod(berlin, Date.parse('2026-12-03T23:30:00Z'))).toEqual({ id: '2026-12-04', startMs: Date.parse('2026-12-03T23:00:00Z'), endMs: Date.parse('2026-12-04T23:00:00Z') });
    // 29 March 2026: clocks go from 02:00 to 03:00, a 23-hour day.
    const dst = quotaPeriod(berlin, Date.parse('2026-03-29T12:00:00Z'));
    expect(dst).toEqual({ id: '2026-03-29', startMs: Date.parse('2026-03-28T23:00:00Z'), endMs: Date.parse('2026-03-29T22:00:00Z') });
    expect((dst.endMs - dst.startMs) / 3_600_000).toBe(23);
    const ny = quotaPeriod({ requests: 1, period: 'month', timeZone: 'America/New_York' }, Date.parse('2026-11-01T03:00:00Z'));
    expect(ny).toEqual({ id: '2026-10', startMs: Date.parse('2026-10-01T04:00:00Z'), endMs: Date.parse('2026-11-01T04:00:00Z') });
  });

  it('the instant a period ends belongs to the next one', () => {
    const spec = { requests: 1, period: 'day' as const };
    const end = quotaPeriod(spec, Date.parse('2026-12-03T12:00:00Z')).endMs;
    expect(quotaPeriod(spec, end - 1).id).toBe('2026-12-03');
    expect(quotaPeriod(spec, end).id).toBe('2026-12-04');
  });
});
