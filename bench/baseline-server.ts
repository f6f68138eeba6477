/**
 * The baseline: a no-op Check server on the same transport (grpc-js) with
 * proto-loader objects (over the service's own protos), as a naive ext_authz
 * server would be written. It decodes every request, allows everything and
 * encodes a minimal OK answer. Every scenario is reported as a ratio to this
 * server measured in the same run with the same request bytes.
 *
 * Run as a child process with IPC: sends {port} once listening.
 */
import * as grpc from '@grpc/grpc-js';
import { authPackage } from '../src/grpc/protos.js';

const server = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
const def = authPackage()['envoy.service.auth.v3.Authorization'] as grpc.ServiceDefinition;
const OK = { status: { code: 0 }, ok_response: {} };
server.addService(def, {
  Check(_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
    callback(null, OK);
  },
});
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.send?.({ port });
});
process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'cpu') process.send?.({ cpu: process.cpuUsage() });
  if (m.cmd === 'stop') server.tryShutdown(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
