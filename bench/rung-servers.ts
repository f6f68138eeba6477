/**
 * The two upper rungs of the bench's ladder, as child processes with IPC
 * (sends {port} once listening, answers {cmd:'cpu'}, stops on {cmd:'stop'}):
 *
 * - `grpcjs-raw`: grpc-js with identity (de)serializers over raw bytes and a
 *   fixed answer: what grpc-js costs with no protobuf work at all.
 * - `http2-bare`: bare node:http2 with hand gRPC framing (5-byte prefix,
 *   trailers) and a fixed answer: Node's transport ceiling. It reads the
 *   request body and answers after END_STREAM, like any unary server.
 *
 * Both answer the same bytes: a CheckResponse with status OK and an empty
 * ok_response (field 1 {}, field 3 {}).
 *
 * Usage: BENCH_RUNG=grpcjs-raw|http2-bare node rung-servers.js
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { CHECK_PATH } from './lib/grpc-wire.js';

const ANSWER = Buffer.from([0x0a, 0x00, 0x1a, 0x00]);
const FRAMED = Buffer.concat([Buffer.from([0, 0, 0, 0, ANSWER.length]), ANSWER]);

let stop: () => void = () => process.exit(0);

function grpcjsRaw(): void {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  const raw = (b: Buffer) => b;
  const def: grpc.ServiceDefinition = {
    Check: {
      path: CHECK_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
    },
  };
  server.addService(def, {
    Check(_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      callback(null, ANSWER);
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    process.send?.({ port });
  });
  stop = () => server.tryShutdown(() => process.exit(0));
}

const OK_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };
const OK_TRAILERS = { 'grpc-status': '0' };
const RESPOND = { waitForTrailers: true };

function http2Bare(): void {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.on('data', () => {});
    stream.on('end', () => {
      // A load generator that stops mid-run resets its streams.
      if (stream.destroyed || stream.closed) return;
      stream.respond(OK_HEADERS, RESPOND);
      stream.once('wantTrailers', () => stream.sendTrailers(OK_TRAILERS));
      stream.end(FRAMED);
    });
  });
  server.on('sessionError', () => {});
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
  stop = () => server.close(() => process.exit(0));
}

const rung = process.env.BENCH_RUNG;
if (rung === 'grpcjs-raw') grpcjsRaw();
else if (rung === 'http2-bare') http2Bare();
else throw new Error(`unknown rung ${String(rung)}`);

process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'cpu') process.send?.({ cpu: process.cpuUsage() });
  if (m.cmd === 'stop') stop();
});
process.on('disconnect', () => process.exit(0));
