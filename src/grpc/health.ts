/**
 * grpc.health.v1.Health on the transport: Check and Watch for the service
 * names the server registers. Messages are two fields wide, so they are read
 * and written here by hand:
 *   HealthCheckRequest  { string service = 1; }
 *   HealthCheckResponse { ServingStatus status = 1; }  UNKNOWN 0, SERVING 1,
 *   NOT_SERVING 2, SERVICE_UNKNOWN 3 (Watch only, for a name not registered).
 */
import { frame, Status, type Method, type ServerCall } from './transport.js';

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

const CODE = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

/** Framed answers, one per status: proto3 leaves the zero value out. */
const ANSWER: Record<number, Buffer> = Object.fromEntries(
  Object.values(CODE).map((c) => [c, frame(c === 0 ? Buffer.alloc(0) : Buffer.from([0x08, c]))]),
);

/**
 * The `service` field of a HealthCheckRequest; undefined when the bytes are
 * not a protobuf message. Unknown fields are skipped, the last `service` wins.
 */
export function decodeHealthRequest(buf: Buffer): string | undefined {
  let service = '';
  let i = 0;
  const varint = (): number | undefined => {
    let n = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (i >= buf.length) return undefined;
      const b = buf[i++] as number;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
    }
    return undefined;
  };
  while (i < buf.length) {
    const tag = varint();
    if (tag === undefined || tag < 8) return undefined;
    const wire = tag & 7;
    if (wire === 0) {
      // Up to 10 bytes for a 64-bit varint.
      let k = 0;
      while (k < 10 && i < buf.length && (buf[i] as number) >= 0x80) {
        i++;
        k++;
      }
      if (k === 10 || i >= buf.length) return undefined;
      i++;
    } else if (wire === 1 || wire === 5) {
      i += wire === 1 ? 8 : 4;
      if (i > buf.length) return undefined;
    } else if (wire === 2) {
      const len = varint();
      if (len === undefined || i + len > buf.length) return undefined;
      if (tag === 0x0a) service = buf.toString('utf8', i, i + len);
      i += len;
    } else {
      return undefined;
    }
  }
  return service;
}

/**
 * Watch streams open at once. A Watch never ends on its own, so without a cap
 * an unauthenticated peer could hold the server's whole open-stream budget
 * with them and leave no room for Checks.
 */
export const MAX_WATCHES = 1000;

/** Serving status per service name, with the two health methods over it. */
export class Health {
  readonly #status = new Map<string, ServingStatus>();
  readonly #watchers = new Map<string, Set<ServerCall>>();
  readonly #maxWatches: number;
  #watches = 0;

  constructor(initial: Record<string, ServingStatus>, maxWatches = MAX_WATCHES) {
    for (const [name, s] of Object.entries(initial)) this.#status.set(name, s);
    this.#maxWatches = maxWatches;
  }

  setStatus(service: string, status: ServingStatus): void {
    if (this.#status.get(service) === status) return;
    this.#status.set(service, status);
    for (const call of this.#watchers.get(service) ?? []) call.send(ANSWER[CODE[status]] as Buffer);
  }

  /** Ends every Watch (the server is going away); their last message was the final status. */
  endWatches(): void {
    for (const calls of this.#watchers.values()) for (const call of calls) call.end(Status.UNAVAILABLE, 'server is shutting down');
    this.#watchers.clear();
    this.#watches = 0;
  }

  /** `/grpc.health.v1.Health/Check` and `/Watch`. */
  methods(): Array<[string, Method]> {
    return [
      [
        '/grpc.health.v1.Health/Check',
        {
          streaming: false,
          handle: (req, call) => {
            const service = decodeHealthRequest(req);
            if (service === undefined) return call.end(Status.INVALID_ARGUMENT, 'malformed HealthCheckRequest');
            const s = this.#status.get(service);
            if (s === undefined) return call.end(Status.NOT_FOUND, 'unknown service');
            call.send(ANSWER[CODE[s]] as Buffer);
          },
        },
      ],
      [
        '/grpc.health.v1.Health/Watch',
        {
          streaming: true,
          handle: (req, call) => {
            const service = decodeHealthRequest(req);
            if (service === undefined) return call.end(Status.INVALID_ARGUMENT, 'malformed HealthCheckRequest');
            if (this.#watches >= this.#maxWatches) return call.end(Status.RESOURCE_EXHAUSTED, 'too many health Watch streams');
            this.#watches++;
            const s = this.#status.get(service);
            call.send(ANSWER[s === undefined ? CODE.SERVICE_UNKNOWN : CODE[s]] as Buffer);
            let set = this.#watchers.get(service);
            if (set === undefined) this.#watchers.set(service, (set = new Set()));
            set.add(call);
            call.onCancel = () => {
              set.delete(call);
              this.#watches--;
            };
          },
        },
      ],
    ];
  }
}
