import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  classify,
  CloudError,
  cloudErrorFromResponse,
  isTransient,
  parseErrorBody,
  parseErrorJson,
  parseRetryAfter,
  requestIdFrom,
  retryAfterMs,
} from '../../src/cloud/errors.ts';
import type { CloudErrorKind } from '../../src/cloud/errors.ts';
import { Secret } from '../../src/cloud/secret.ts';

describe('error body parsers', () => {
  it('Neutron', () => {
    const body = JSON.stringify({
      NeutronError: { type: 'RouterNotFound', message: 'Router 66e3 could not be found', detail: '' },
    });
    expect(parseErrorBody(body, 'application/json')).toEqual({
      code: 'RouterNotFound',
      message: 'Router 66e3 could not be found',
      detail: undefined,
    });
    expect(parseErrorJson({ NeutronError: 'old style message' })).toEqual({ message: 'old style message' });
  });

  it('Keystone', () => {
    const body = '{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}';
    expect(parseErrorBody(body, 'application/json')).toEqual({
      code: 'Unauthorized',
      message: 'The request you have made requires authentication.',
      requestId: undefined,
    });
    // Huawei services that use the same envelope with a string code.
    expect(parseErrorJson({ error: { code: 'APIGW.0101', message: 'The API does not exist', request_id: 'r-9' } })).toEqual({
      code: 'APIGW.0101',
      message: 'The API does not exist',
      requestId: 'r-9',
    });
  });

  it('Huawei {"error_code","error_msg"} and {"code","message"}', () => {
    expect(parseErrorBody('{"error_code":"VPC.0114","error_msg":"Only one VPN service per VPC","request_id":"abc"}')).toEqual({
      code: 'VPC.0114',
      message: 'Only one VPN service per VPC',
      requestId: 'abc',
    });
    expect(parseErrorBody('{"code":"VPN.0002","message":"Invalid router"}', 'application/json;charset=UTF-8')).toEqual({
      code: 'VPN.0002',
      message: 'Invalid router',
      requestId: undefined,
    });
  });

  it('other JSON shapes', () => {
    expect(parseErrorJson({ itemNotFound: { code: 404, message: 'gone' } })).toEqual({ code: 'itemNotFound', message: 'gone' });
    expect(parseErrorJson({ faultstring: 'bad', faultcode: 'Client' })).toEqual({ code: 'Client', message: 'bad' });
    expect(parseErrorJson({ message: 'plain' })).toEqual({ message: 'plain' });
    expect(parseErrorJson([1, 2])).toEqual({});
    expect(parseErrorJson({ something: 'else', other: 1 })).toEqual({});
  });

  it('non-JSON bodies: text, HTML, empty, broken JSON', () => {
    expect(parseErrorBody('404 Not Found\n\nThe resource could not be found.\n\n', 'text/plain')).toEqual({
      message: '404 Not Found The resource could not be found.',
    });
    expect(
      parseErrorBody('<html><head><title>502 Bad Gateway</title><style>b{}</style></head><body><h1>502 Bad Gateway</h1></body></html>', 'text/html'),
    ).toEqual({ message: '502 Bad Gateway 502 Bad Gateway' });
    expect(parseErrorBody('', 'application/json')).toEqual({});
    expect(parseErrorBody('{"NeutronError": ', 'application/json')).toEqual({ message: '{"NeutronError":' });
    const long = parseErrorBody('x'.repeat(5000), 'text/plain');
    expect(long.message!.length).toBe(501);
  });
});

describe('Retry-After', () => {
  const now = Date.UTC(2026, 10, 25, 12, 0, 0);
  it('seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('1.5', now)).toBe(1500);
    expect(parseRetryAfter(['3', '9'], now)).toBe(3000);
  });
  it('HTTP date', () => {
    expect(parseRetryAfter('Wed, 25 Nov 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 25 Nov 2026 11:00:00 GMT', now)).toBe(0);
  });
  it('absent or unparseable', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
});

describe('cloudErrorFromResponse', () => {
  it('takes status, code, message, request id and Retry-After', () => {
    const e = cloudErrorFromResponse({
      method: 'POST',
      path: '/v2.0/vpn/vpnservices',
      status: 429,
      headers: { 'content-type': 'application/json', 'x-openstack-request-id': 'req-1', 'retry-after': '7' },
      body: '{"NeutronError":{"type":"OverQuota","message":"slow down","detail":""}}',
    });
    expect(e).toBeInstanceOf(CloudError);
    expect(e).toBeInstanceOf(Error);
    expect(e.status).toBe(429);
    expect(e.code).toBe('OverQuota');
    expect(e.cloudMessage).toBe('slow down');
    expect(e.requestId).toBe('req-1');
    expect(e.retryAfterMs).toBe(7000);
    expect(e.method).toBe('POST');
    expect(e.path).toBe('/v2.0/vpn/vpnservices');
    expect(e.message).toBe('POST /v2.0/vpn/vpnservices 429 OverQuota: slow down (request req-1)');
    expect(classify(e)).toBe('retryable');
    expect(retryAfterMs(e)).toBe(7000);
    expect(e.toJSON()).toMatchObject({ status: 429, code: 'OverQuota', requestId: 'req-1', kind: 'retryable' });
  });

  it('finds the request id in X-Request-Id (Huawei) or in the body', () => {
    expect(requestIdFrom({ 'x-request-id': 'hw-1' })).toBe('hw-1');
    expect(requestIdFrom({ 'x-openstack-request-id': 'os-1', 'x-request-id': 'hw-1' })).toBe('os-1');
    const e = cloudErrorFromResponse({
      method: 'GET',
      path: '/v2.0/vpn/vpnservices',
      status: 401,
      headers: {},
      body: '{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information","request_id":"b-7"}',
    });
    expect(e.requestId).toBe('b-7');
    expect(e.code).toBe('APIGW.0301');
    expect(classify(e)).toBe('auth');
  });
});

describe('classify', () => {
  const mk = (status: number, code?: string): CloudError =>
    new CloudError({ status, code, method: 'PUT', path: '/v2.0/vpn/vpnservices/x' });
  const table: Array<[number, string | undefined, CloudErrorKind]> = [
    [400, 'RouterIsNotExternal', 'terminal'],
    [400, 'VPNStateInvalidToUpdate', 'pendingState'],
    [400, undefined, 'terminal'],
    [401, 'Unauthorized', 'auth'],
    [403, 'PolicyNotAuthorized', 'terminal'],
    [404, 'RouterNotFound', 'notFound'],
    [404, 'VPNServiceNotFound', 'notFound'],
    [408, undefined, 'retryable'],
    [409, 'VPNServiceInUse', 'conflict'],
    [413, undefined, 'terminal'],
    [422, undefined, 'terminal'],
    [429, undefined, 'retryable'],
    [500, 'InternalServerError', 'retryable'],
    [502, undefined, 'retryable'],
    [503, undefined, 'retryable'],
    [504, undefined, 'retryable'],
    [0, 'ECONNRESET', 'retryable'],
    [0, 'Timeout', 'retryable'],
    [200, 'InvalidResponse', 'retryable'],
  ];
  it.each(table)('%i %s → %s', (status, code, kind) => {
    expect(classify(mk(status, code))).toBe(kind);
  });

  it('honours an explicit kind, and treats anything else as retryable', () => {
    expect(classify(new CloudError({ status: 0, code: 'EndpointNotFound', method: '', path: 'service catalog', kind: 'terminal' }))).toBe(
      'terminal',
    );
    expect(classify(new Error('boom'))).toBe('retryable');
    expect(classify('nope')).toBe('retryable');
  });

  it('isTransient: retryable and pendingState', () => {
    expect(isTransient(mk(503))).toBe(true);
    expect(isTransient(mk(400, 'VPNStateInvalidToUpdate'))).toBe(true);
    expect(isTransient(mk(429))).toBe(true);
    expect(isTransient(mk(400, 'RouterIsNotExternal'))).toBe(false);
    expect(isTransient(mk(401))).toBe(false);
    expect(isTransient(mk(404))).toBe(false);
    expect(isTransient(mk(409))).toBe(false);
  });

  it('formats network errors and catalog errors', () => {
    const net = new CloudError({ status: 0, code: 'Timeout', cloudMessage: 'no response within 100 ms', method: 'GET', path: '/v2.0/vpn/vpnservices' });
    expect(net.message).toBe('GET /v2.0/vpn/vpnservices: no response within 100 ms');
    const cat = new CloudError({ status: 0, code: 'EndpointNotFound', cloudMessage: 'no network endpoint', method: '', path: 'service catalog' });
    expect(cat.message).toBe('service catalog: no network endpoint');
  });
});

describe('Secret', () => {
  it('prints *** everywhere', () => {
    const s = new Secret('hunter2');
    expect(String(s)).toBe('***');
    expect(`${s}`).toBe('***');
    expect(JSON.stringify({ s })).toBe('{"s":"***"}');
    expect(inspect(s)).toBe('Secret(***)');
    expect(inspect({ nested: { s } }, { showHidden: true, depth: 5 })).not.toContain('hunter2');
    expect(Object.keys(s)).toEqual([]);
    expect(s.reveal()).toBe('hunter2');
    expect(s.equals(new Secret('hunter2'))).toBe(true);
    expect(s.equals(new Secret('x'))).toBe(false);
  });
});
