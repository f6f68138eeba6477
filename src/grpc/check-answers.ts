/**
 * Decision → the framed gRPC message Envoy gets: the one cache between a
 * decision and the bytes of its answer.
 *
 * Answers that repeat are built, encoded and framed once and then sent as
 * the same shared Buffer: every denial of one reason (made when this module
 * loads), and every allow of one credential whose answer depends on nothing
 * but the credential (kept per Identity, so it goes when the replica drops the
 * credential's entry). Allows that rewrite the Cookie header, carry claim
 * values or RateLimit headers, and denials with headers of their own (429),
 * differ per request and are built each time, not cached.
 *
 * The hand-written writer (wire-encode.ts) encodes; a shape it refuses (an
 * extension of the answer it does not know) is encoded by proto-loader
 * instead, so nothing can be dropped silently.
 */
import { deny, type Allow, type Decision, type Strip } from '../authz/decision.js';
import type { Identity } from '../authz/identity.js';
import { ALL_REASONS, type Reason } from '../authz/reasons.js';
import { toCheckResponse, type WireCheckResponse } from './check-messages.js';
import { AUTH_SERVICE, authPackage } from './protos.js';
import { frame } from './transport.js';
import { encodeCheckResponse } from './wire-encode.js';

type Encoder = (res: WireCheckResponse) => Buffer;
let protoLoaderEncoder: Encoder | undefined;

/** proto-loader's CheckResponse serializer, loaded on first need only. */
function protoLoaderEncode(res: WireCheckResponse): Buffer {
  protoLoaderEncoder ??= (authPackage()[AUTH_SERVICE] as Record<string, { responseSerialize: Encoder }>).Check!.responseSerialize;
  return protoLoaderEncoder(res);
}

/** The encoded CheckResponse: the hand-written writer, or `fallback` for a shape it refuses. */
export function encodeAnswer(res: WireCheckResponse, fallback: Encoder = protoLoaderEncode): Buffer {
  try {
    return encodeCheckResponse(res);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return fallback(res);
  }
}

function framedAnswer(d: Decision): Buffer {
  return frame(encodeAnswer(toCheckResponse(d)));
}

const DENIALS = Object.fromEntries(
  ALL_REASONS.map((r) => [r, framedAnswer(deny(r))]),
) as Record<Reason, Buffer>;

/** A cached allow: the strip it was built for, and its bytes. */
interface CachedAllow {
  readonly strip: Strip;
  readonly bytes: Buffer;
}

const allows = new WeakMap<Identity, CachedAllow>();

/** Whether two strip instructions remove the same thing (cookie strips are never cached). */
function sameStrip(a: Strip, b: Strip): boolean {
  if (a === b) return true;
  if ('header' in a) return 'header' in b && a.header === b.header;
  if ('query' in a) return 'query' in b && a.query === b.query;
  return 'none' in a && 'none' in b;
}

function allowFrame(d: Allow): Buffer {
  if ('cookie' in d.strip || d.headers !== undefined || d.responseHeaders !== undefined) return framedAnswer(d);
  const hit = allows.get(d.identity);
  if (hit !== undefined && sameStrip(hit.strip, d.strip)) return hit.bytes;
  const bytes = framedAnswer(d);
  allows.set(d.identity, { strip: d.strip, bytes });
  return bytes;
}

/**
 * The framed answer (5-byte gRPC prefix and message) for a decision. The
 * Buffer may be shared between calls: callers must not modify it.
 */
export function answerFrame(d: Decision): Buffer {
  if (d.allow) return allowFrame(d);
  // A denial with headers of its own (a 429's Retry-After and RateLimit) is built for the request.
  return d.headers === undefined ? DENIALS[d.reason] : framedAnswer(d);
}
