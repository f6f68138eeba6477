/**
 * The CheckRequest `consumer-authz check` sends: decoded with the OFFICIAL
 * Envoy protos it is the request Envoy's ext_authz filter would send (headers
 * lower-cased with the pseudo-headers, path with its query, socket addresses,
 * the route in context_extensions), and the service reads it as such.
 */
import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { buildCheckRequest, CheckInputError, encodeCheckRequest, parseHeaderOption } from '../../src/cli/check-request.js';
import { decodeCheckRequest } from '../../src/grpc/wire-decode.js';
import { OFFICIAL_AUTH_DEF } from '../helpers/envoy.js';

const official = (OFFICIAL_AUTH_DEF['envoy.service.auth.v3.Authorization'] as grpc.ServiceDefinition).Check as grpc.MethodDefinition<any, any>;

const input = {
  method: 'post',
  path: '/v1/chat?stream=1&api_key=k',
  host: 'api.example.com',
  headers: [parseHeaderOption('X-Api-Key:  some-key  '), parseHeaderOption('Cookie: a=1'), parseHeaderOption('cookie: b=2'), parseHeaderOption('x-multi: 1'), parseHeaderOption('X-Multi: 2')],
  route: 'chat',
};

describe('the CheckRequest of `check`', () => {
  it('decodes with the official protos into an Envoy-shaped request', () => {
    const now = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    const req = official.requestDeserialize(encodeCheckRequest(buildCheckRequest(input, now)));
    const a = req.attributes;
    expect(a.source.address.socket_address).toMatchObject({ address: '127.0.0.1', port_value: 54321, protocol: 'TCP' });
    expect(a.destination.address.socket_address).toMatchObject({ address: '127.0.0.1', port_value: 10000 });
    expect(a.request.time).toEqual({ seconds: String(Math.floor(now / 1000)), nanos: 678_000_000 });
    const http = a.request.http;
    expect(http).toMatchObject({ method: 'POST', path: '/v1/chat?stream=1&api_key=k', host: 'api.example.com', scheme: 'http', protocol: 'HTTP/1.1', query: '', fragment: '' });
    expect(http.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(http.headers).toEqual({
      ':authority': 'api.example.com',
      ':method': 'POST',
      ':path': '/v1/chat?stream=1&api_key=k',
      ':scheme': 'http',
      'user-agent': 'consumer-authz-check',
      accept: '*/*',
      'x-forwarded-proto': 'http',
      'x-request-id': http.id,
      'x-api-key': 'some-key',
      cookie: 'a=1; b=2',
      'x-multi': '1,2',
    });
    expect(a.context_extensions).toEqual({ route: 'chat' });
  });

  it("is read by the service's decoder as the same request", () => {
    const r = decodeCheckRequest(encodeCheckRequest(buildCheckRequest(input)));
    expect(r).toMatchObject({ method: 'POST', path: '/v1/chat?stream=1&api_key=k', route: 'chat' });
    expect(r!.headers['x-api-key']).toBe('some-key');
  });

  it('a Host header becomes :authority and host; no --route means no context_extensions', () => {
    const req = official.requestDeserialize(
      encodeCheckRequest(buildCheckRequest({ method: 'GET', path: '/', host: 'localhost', headers: [parseHeaderOption('Host: h.example:8080')] })),
    );
    expect(req.attributes.request.http.host).toBe('h.example:8080');
    expect(req.attributes.request.http.headers[':authority']).toBe('h.example:8080');
    expect(req.attributes.request.http.headers.host).toBeUndefined();
    expect(req.attributes.context_extensions).toEqual({});
  });

  it.each(['novalue', ':path: /x', 'bad name: 1', 'x: a\nb'])('refuses -H %j', (h) => {
    expect(() => parseHeaderOption(h)).toThrow(CheckInputError);
  });
});
