/** The hand-written health messages and the Watch cap (unit: no server). */
import { describe, expect, it } from 'vitest';
import { decodeHealthRequest, Health } from '../../src/grpc/health.js';
import { Status, type ServerCall } from '../../src/grpc/transport.js';

function fakeCall(): ServerCall & { sent: Buffer[]; ended: number | undefined } {
  const c = {
    headers: {},
    done: false,
    sent: [] as Buffer[],
    ended: undefined as number | undefined,
    send(f: Buffer) {
      c.sent.push(f);
    },
    end(code: number) {
      c.ended = code;
      c.done = true;
    },
  };
  return c as ServerCall & { sent: Buffer[]; ended: number | undefined };
}

describe('HealthCheckRequest decoding', () => {
  it('reads the service name, skips unknown fields, refuses what is not protobuf', () => {
    expect(decodeHealthRequest(Buffer.alloc(0))).toBe('');
    expect(decodeHealthRequest(Buffer.from([0x0a, 0x01, 0x78]))).toBe('x');
    expect(decodeHealthRequest(Buffer.from([0x10, 0x96, 0x01, 0x0a, 0x01, 0x79, 0x1d, 1, 2, 3, 4]))).toBe('y');
    for (const bad of [[0x0a, 0x05, 0x78], [0x0b], [0x00], [0x10], [0x10, 0x80], [0x19, 1, 2]]) {
      expect(decodeHealthRequest(Buffer.from(bad)), JSON.stringify(bad)).toBeUndefined();
    }
  });
});

describe('Watch', () => {
  it('is capped: past the cap RESOURCE_EXHAUSTED; a cancelled Watch frees its place', () => {
    const h = new Health({ '': 'SERVING' }, 2);
    const watch = new Map(h.methods()).get('/grpc.health.v1.Health/Watch')!;
    const a = fakeCall();
    const b = fakeCall();
    const c = fakeCall();
    watch.handle(Buffer.alloc(0), a);
    watch.handle(Buffer.alloc(0), b);
    watch.handle(Buffer.alloc(0), c);
    expect(a.sent).toHaveLength(1);
    expect(c.ended).toBe(Status.RESOURCE_EXHAUSTED);
    a.onCancel!();
    const d = fakeCall();
    watch.handle(Buffer.alloc(0), d);
    expect(d.ended).toBeUndefined();
    h.setStatus('', 'NOT_SERVING');
    expect(b.sent.at(-1)).toEqual(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x02]));
    expect(a.sent).toHaveLength(1); // cancelled: told nothing more
  });
});
