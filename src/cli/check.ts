/**
 * `consumer-authz check`: asks the gRPC port the question Envoy asks for one
 * HTTP request, and prints the answer — allow as whom, with what headers set
 * and removed, or the status, reason and body the client would get.
 *
 * A client of the gRPC port (and, for `--explain`, of the admin API); it knows
 * nothing of the server's internals. Exit codes: 0 allow, 1 deny (401/403),
 * 2 usage error, 3 no decision (503 authz_unavailable, the port unreachable or
 * not answering, a gRPC error).
 */
import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'node:util';
import { buildCheckRequest, CheckInputError, encodeCheckRequest, parseHeaderOption, type CheckInput } from './check-request.js';
import { CHECK_METHOD, decodeCheckResponse, outcomeOf, responseToJson, type CheckOutcome, type CheckResponseObject } from './check-response.js';
import { explain } from './explain.js';

/** Streams and environment of one run (the dispatcher's own io fits). */
export interface CheckIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Record<string, string | undefined>;
  fetch?: typeof fetch;
}

export const EXIT = { allow: 0, deny: 1, usage: 2, noDecision: 3 } as const;

/** How long `check` waits for a connection and an answer. */
export const CHECK_DEADLINE_MS = 3000;

export const CHECK_USAGE = `Usage: consumer-authz check [options]

Sends the CheckRequest Envoy would send for one HTTP request to the gRPC port and prints the decision.

Options:
  -H, --header 'NAME: VALUE'  a request header (repeatable), as with curl -H
  --path PATH         request path with query string (default /)
  --method METHOD     HTTP method (default GET)
  --host HOST         :authority (default localhost)
  --route ROUTE       context_extensions.route, as Envoy's per-route check_settings name it
  --grpc HOST:PORT    the gRPC port (default GRPC_HOST:GRPC_PORT from the environment,
                      else 127.0.0.1:9001; host 0.0.0.0 or :: means this machine)
  --json              print the CheckResponse as JSON (field names of the Envoy protos)
  --explain           add why: which source matched which consumer and key, which rule denied.
                      Reads the admin API when it can (--url, --token as for the other commands);
                      what is inferred is marked so
  --url URL, --token TOKEN   admin API for --explain (env CONSUMER_AUTHZ_URL, ADMIN_TOKEN)

Exit codes: 0 allow, 1 deny (401, 403), 2 usage error, 3 no decision (503, the port unreachable).
`;

interface Target {
  address: string;
  /** Where the address came from, for error messages. */
  from: string;
}

/** The gRPC address: --grpc, else GRPC_HOST/GRPC_PORT, else the defaults; a wildcard host means loopback. */
export function grpcTarget(option: string | undefined, env: Record<string, string | undefined>): Target {
  let host: string;
  let port: string;
  let from: string;
  if (option !== undefined) {
    const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(option);
    if (!m) throw new CheckInputError(`--grpc ${JSON.stringify(option)}: write HOST:PORT, e.g. 127.0.0.1:9001`);
    host = (m[1] ?? m[2]) as string;
    port = m[3] as string;
    from = '--grpc';
  } else {
    host = env.GRPC_HOST || '127.0.0.1';
    port = env.GRPC_PORT || '9001';
    from = env.GRPC_PORT || env.GRPC_HOST ? 'GRPC_HOST/GRPC_PORT' : 'the default; set GRPC_PORT or --grpc HOST:PORT';
    if (!/^\d{1,5}$/.test(port)) throw new CheckInputError(`GRPC_PORT=${JSON.stringify(port)}: not a port number`);
  }
  if (Number(port) < 1 || Number(port) > 65535) throw new CheckInputError(`port ${port} (${from}) is not from 1 to 65535`);
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return { address: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, from };
}

class NoAnswer extends Error {}

/** One Check call with a deadline; rejects with {@link NoAnswer} naming the address on any gRPC failure. */
function callCheck(target: Target, body: Buffer, deadlineMs: number): Promise<Buffer> {
  const client = new grpc.Client(target.address, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      CHECK_METHOD,
      (b) => b,
      (b) => b,
      body,
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, res) => {
        client.close();
        if (!err && res) {
          resolve(res);
          return;
        }
        const e = err as grpc.ServiceError | null;
        const where = `${target.address} (${target.from})`;
        if (e?.code === grpc.status.UNAVAILABLE) {
          // grpc-js says "No connection established. Last error: Error: connect ECONNREFUSED …": keep the cause.
          const cause = /Last error: (?:Error: )?(.*?)\.?(?: Resolution note:.*)?$/.exec(e.details)?.[1] ?? (e.details || 'unavailable');
          reject(new NoAnswer(`cannot reach the gRPC port at ${where}: ${cause}; is the service running (npm start)?`));
        } else if (e?.code === grpc.status.DEADLINE_EXCEEDED) {
          reject(new NoAnswer(`no answer from the gRPC port at ${where} within ${deadlineMs / 1000} s`));
        } else {
          reject(new NoAnswer(`the gRPC port at ${where} answered ${e ? grpc.status[e.code] : 'nothing'}${e?.details ? `: ${e.details}` : ''}`));
        }
      },
    );
  });
}

const pad = (label: string) => `  ${label}`.padEnd(19);

/** The decision in words (the first line is what the README's replay matches). */
export function formatOutcome(o: CheckOutcome): string {
  const lines: string[] = [];
  if (o.allow) {
    const who = [o.consumer.id && `consumer id ${o.consumer.id}`, o.consumer.authType, o.credentialId && `credential id ${o.credentialId}`].filter(Boolean);
    lines.push(`allow as ${o.consumer.name ?? '(unnamed)'}${who.length ? ` (${who.join(', ')})` : ''}`);
    o.headersSet.forEach((h, i) => lines.push(`${pad(i === 0 ? 'headers set:' : '')}${h.name}: ${h.value}`));
    if (o.headersSet.length === 0) lines.push(`${pad('headers set:')}(none)`);
    lines.push(`${pad('headers removed:')}${o.headersRemoved.join(', ') || '(none)'}`);
    lines.push(`${pad('query removed:')}${o.queryRemoved.join(', ') || '(none)'}`);
  } else {
    lines.push(`deny ${o.status}${o.reason ? ` ${o.reason}` : ''}${o.message ? `: ${o.message}` : ''}`);
    o.headers.forEach((h, i) => lines.push(`${pad(i === 0 ? 'headers:' : '')}${h.name}: ${h.value}`));
    lines.push(`${pad('body:')}${o.body}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Runs `check` with the arguments after the word `check`; resolves with the exit code. */
export async function runCheck(argv: string[], io: CheckIo): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        header: { type: 'string', short: 'H', multiple: true },
        path: { type: 'string' },
        method: { type: 'string' },
        host: { type: 'string' },
        route: { type: 'string' },
        grpc: { type: 'string' },
        json: { type: 'boolean', default: false },
        explain: { type: 'boolean', default: false },
        url: { type: 'string' },
        token: { type: 'string' },
        'admin-token': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    io.stderr(`consumer-authz check: ${(err as Error).message}\n\n${CHECK_USAGE}`);
    return EXIT.usage;
  }
  if (values.help) {
    io.stdout(CHECK_USAGE);
    return 0;
  }
  let target: Target;
  let input: CheckInput;
  let body: Buffer;
  let request;
  try {
    target = grpcTarget(values.grpc, io.env);
    input = {
      method: values.method ?? 'GET',
      path: values.path ?? '/',
      host: values.host ?? 'localhost',
      headers: (values.header ?? []).map(parseHeaderOption),
      route: values.route,
    };
    request = buildCheckRequest(input);
    body = encodeCheckRequest(request);
  } catch (err) {
    if (!(err instanceof CheckInputError)) throw err;
    io.stderr(`consumer-authz check: ${err.message}\n`);
    return EXIT.usage;
  }
  let res: CheckResponseObject;
  try {
    res = decodeCheckResponse(await callCheck(target, body, CHECK_DEADLINE_MS));
  } catch (err) {
    if (!(err instanceof NoAnswer)) throw err;
    io.stderr(`consumer-authz check: ${err.message}\n`);
    return EXIT.noDecision;
  }
  const outcome = outcomeOf(res);
  if (values.json) io.stdout(`${JSON.stringify(responseToJson(res), null, 2)}\n`);
  else io.stdout(formatOutcome(outcome));
  if (values.explain) {
    const admin = {
      url: (values.url ?? io.env.CONSUMER_AUTHZ_URL ?? 'http://127.0.0.1:9002').replace(/\/+$/, ''),
      token: values['admin-token'] ?? values.token ?? io.env.ADMIN_TOKEN,
      fetch: io.fetch ?? fetch,
    };
    // With --json stdout stays one JSON document; the explanation goes to stderr.
    const text = await explain(outcome, request, admin);
    (values.json ? io.stderr : io.stdout)(text);
  }
  if (outcome.allow) return EXIT.allow;
  return outcome.status === 503 ? EXIT.noDecision : EXIT.deny;
}
