// Secrets never leave a CloudError, in any encoding, clipped or not (src/cloud/redact.ts): properties of the scrub
// with fast-check (random secrets, texts, encodings, clips, and through the error body parser), then the leaks of
// the issue as table rows through the real path (clouds.yaml → createCloud → HttpTransport → a local HTTP server that
// answers with the error body).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IPsecSiteConnection } from '../../src/api/siteconnection.ts';
import { createCloud, type Cloud } from '../../src/cloud/cloud.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';
import { CloudError, cloudErrorFromResponse } from '../../src/cloud/errors.ts';
import { redact, Redactor } from '../../src/cloud/redact.ts';
import { Secret } from '../../src/cloud/secret.ts';
import type { CloudHandle } from '../../src/core/cloud.ts';
import { siteConnectionAdapter } from '../../src/kinds/siteconnection/adapter.ts';

// ---------------------------------------------------------------------------------------------------------------
// Reference encoders (written apart from src/cloud/redact.ts, from the platform's own encoders where there is one)
// and the leak measure.

const cps = (s: string): string[] => [...s];
const perChar = (f: (c: string) => string) => (s: string): string => cps(s).map(f).join('');
const hex = (n: number, w: number): string => n.toString(16).padStart(w, '0');
const json = (s: string): string => JSON.stringify(s).slice(1, -1);
/** Python json.dumps (ensure_ascii=True): JSON, then everything outside printable ASCII as \uXXXX. */
const jsonAscii = (s: string): string => json(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${hex(c.charCodeAt(0), 4)}`);
const uEsc = (upper: boolean) => (s: string): string =>
  s.replace(/[\s\S]/g, (u) => `\\u${upper ? hex(u.charCodeAt(0), 4).toUpperCase() : hex(u.charCodeAt(0), 4)}`);
/** Python 3 repr() without its quotes; `sq`: the form with ' quotes (' escaped). */
const pyRepr = (sq: boolean) =>
  perChar((c) => {
    const cp = c.codePointAt(0)!;
    if (c === '\\') return '\\\\';
    if (c === "'" && sq) return "\\'";
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    if (c !== ' ' && /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u.test(c)) {
      return cp < 0x100 ? `\\x${hex(cp, 2)}` : cp < 0x10000 ? `\\u${hex(cp, 4)}` : `\\U${hex(cp, 8)}`;
    }
    return c;
  });
const html = (m: Record<string, string>) => perChar((c) => m[c] ?? c);
const NAMED = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const HTML: Record<string, (s: string) => string> = {
  named: html(NAMED),
  apos: html({ ...NAMED, "'": '&apos;' }),
  python: html({ ...NAMED, "'": '&#x27;' }),
  php: html({ ...NAMED, "'": '&#039;' }),
  decimal: html({ '&': '&#38;', '<': '&#60;', '>': '&#62;', '"': '&#34;', "'": '&#39;' }),
  hex: html({ '&': '&#x26;', '<': '&#x3c;', '>': '&#x3e;', '"': '&#x22;', "'": '&#x27;' }),
  HEX: html({ '&': '&#x26;', '<': '&#x3C;', '>': '&#x3E;', '"': '&#x22;', "'": '&#x27;' }),
};
const pct = (s: string): string => encodeURIComponent(s);
const pctLower = (s: string): string => encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
const form = (s: string): string => new URLSearchParams({ x: s }).toString().slice(2);
const quotePlus = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${hex(c.charCodeAt(0), 2).toUpperCase()}`).replace(/%20/g, '+');

/** The encodings of the issue (and a few more a server uses), as whole-string encoders. Base64 is apart. */
const ENCODINGS: Record<string, (s: string) => string> = {
  raw: (s) => s,
  json,
  'json(json)': (s) => json(json(s)),
  'json-ascii': jsonAscii,
  'json-ascii(json)': (s) => jsonAscii(json(s)),
  uLower: uEsc(false),
  uUpper: uEsc(true),
  'json(uLower)': (s) => json(uEsc(false)(s)),
  'repr-sq': pyRepr(true),
  'repr-dq': pyRepr(false),
  'json(repr)': (s) => json(pyRepr(true)(s)),
  'json-ascii(repr)': (s) => jsonAscii(pyRepr(true)(s)),
  ...Object.fromEntries(Object.entries(HTML).map(([k, f]) => [`html-${k}`, f])),
  ...Object.fromEntries(Object.entries(HTML).map(([k, f]) => [`html-${k}(json)`, (s: string) => f(json(s))])),
  pct,
  pctLower,
  form,
  quotePlus,
  'pct(json)': (s) => pct(json(s)),
  'form(json)': (s) => form(json(s)),
};
const ENCODING_NAMES = Object.keys(ENCODINGS);

/** The UTF-8 bytes that base64 runs of `text` spell (standard or URL-safe alphabet, at each of the 4 offsets). */
function base64Spelled(text: string): Buffer[] {
  const out: Buffer[] = [];
  for (const m of text.replace(/-/g, '+').replace(/_/g, '/').matchAll(/[A-Za-z0-9+/]{4,}/g)) {
    for (let o = 0; o < 4; o++) {
      const run = m[0].slice(o);
      out.push(Buffer.from(run.slice(0, run.length - (run.length % 4)), 'base64'));
    }
  }
  return out;
}

// Lenient decoders: what a reader of the text can undo, even where the encodings are mixed (a text half decoded).
const ENTITY: Record<string, string> = { quot: '"', amp: '&', lt: '<', gt: '>', apos: "'", nbsp: '\u00a0' };
const unHtml = (t: string): string =>
  t.replace(/&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|quot|amp|lt|gt|apos|nbsp);/g, (m, e: string) => {
    if (!e.startsWith('#')) return ENTITY[e]!;
    const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
  });
const BACKSLASH: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', '"': '"', "'": "'", '\\': '\\', '/': '/' };
const unEscape = (t: string): string =>
  t.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|[nrtbf"'\\/])/g, (m, e: string) => {
    if (e.length === 1) return BACKSLASH[e]!;
    const cp = parseInt(e.slice(1), 16);
    return e[0] === 'u' ? String.fromCharCode(cp) : cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
  });
const unPct = (plus: boolean) => (t: string): string =>
  (plus ? t.replace(/\+/g, ' ') : t).replace(/(%[0-9a-fA-F]{2})+/g, (m) => {
    try {
      return decodeURIComponent(m);
    } catch {
      return m;
    }
  });
/** The text as read after undoing one or two layers of escaping (entities, backslash escapes, percent-encoding). */
const VIEWS: Record<string, (t: string) => string> = {
  html: unHtml,
  escapes: unEscape,
  'escapes twice': (t) => unEscape(unEscape(t)),
  'html, escapes': (t) => unEscape(unHtml(t)),
  'escapes, html': (t) => unHtml(unEscape(t)),
  percent: unPct(false),
  form: unPct(true),
  'percent, escapes': (t) => unEscape(unPct(false)(t)),
};

/**
 * Whether `text` holds `k` consecutive characters of `secret`: in one of ENCODINGS, or raw once a view undoes the
 * escaping, or in base64; which, if so.
 */
function heldRun(text: string, secret: string, k: number): string | undefined {
  const s = cps(secret);
  const windows = Array.from({ length: Math.max(0, s.length - k + 1) }, (_, i) => s.slice(i, i + k).join(''));
  for (const [name, enc] of Object.entries(ENCODINGS)) {
    for (const w of windows) if (text.includes(enc(w))) return `${name} ${JSON.stringify(w)}`;
  }
  for (const [name, view] of Object.entries(VIEWS)) {
    const v = view(text);
    if (v === text) continue;
    for (const w of windows) if (v.includes(w)) return `view:${name} ${JSON.stringify(w)}`;
  }
  const spelled = base64Spelled(text);
  for (let i = 0; i + k <= s.length; i++) {
    const w = Buffer.from(s.slice(i, i + k).join(''), 'utf8');
    if (spelled.some((b) => b.includes(w))) return `base64 ${JSON.stringify(s.slice(i, i + k).join(''))}`;
  }
  return undefined;
}

/** The longest run of consecutive characters of `secret` that `text` holds, and in which encoding (for the report). */
function longestLeak(text: string, secret: string): { length: number; encoding: string } {
  let best = { length: 0, encoding: '' };
  for (let k = 1; k <= cps(secret).length; k++) {
    const how = heldRun(text, secret, k);
    if (how === undefined) break;
    best = { length: k, encoding: how.split(' ')[0]! };
  }
  return best;
}

const kOf = (secret: string): number => Math.min(8, cps(secret).length);

// ---------------------------------------------------------------------------------------------------------------
// Properties (fast-check)

/** Runs per property; FC_RUNS=n to hunt longer. */
const RUNS = Number(process.env.FC_RUNS ?? 0) || undefined;
const runs = (n: number) => ({ numRuns: RUNS ?? n });

const SPECIALS = ['"', '\\', "'", '&', '<', '>', '%', '+', '/', '=', '*', '#', ';', '~', '!', '(', ' ', '\n', '\t', '\u0000', '\u007f', '\u00a0', '\u2028', 'é', '€', '😀', 'ß', 'ж'];
/** One character (code point): quotes, backslashes, entity and URL characters, controls, unicode up to astral. */
const char = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SPECIALS) },
  { weight: 4, arbitrary: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCodePoint(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0xa0, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff).map((c) => String.fromCodePoint(c)) },
);
const secretArb = fc.array(char, { minLength: 6, maxLength: 128 }).map((a) => a.join(''));
/** Surrounding text: the same characters, and the ones of JSON and prose. */
const filler = (max: number) => fc.string({ unit: fc.oneof(char, fc.constantFrom(...'abc xyz{}":,.')), maxLength: max });
const encodingArb = fc.constantFrom(...ENCODING_NAMES, 'base64', 'base64url');

/** `secret` in encoding `name`; base64 as part of a longer byte string (the secret at byte offset `align`). */
function encode(name: string, secret: string, align = 0): string {
  if (name === 'base64' || name === 'base64url') {
    const b64 = Buffer.from(`${'{"'.slice(0, align)}${secret}"}`, 'utf8').toString('base64');
    return name === 'base64' ? b64 : b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  return ENCODINGS[name]!(secret);
}
/**
 * Where to cut a text: nowhere, or keep what is before / after / between random points, each point anywhere in the
 * text or (more often) inside the encoded secret, at `from..to`.
 */
const fraction = fc.double({ min: 0, max: 1, noNaN: true });
const point = fc.record({ inSecret: fc.boolean(), at: fraction });
const clipArb = fc.oneof(
  fc.constant({ keep: 'all' as const }),
  fc.record({ keep: fc.constantFrom('head' as const, 'tail' as const, 'middle' as const), a: point, b: point }),
);
type Clip = typeof clipArb extends fc.Arbitrary<infer T> ? T : never;
function cut(text: string, clip: Clip, from = 0, to = text.length): string {
  if (clip.keep === 'all') return text;
  const pos = (p: { inSecret: boolean; at: number }) => Math.round(p.inSecret ? from + p.at * (to - from) : p.at * text.length);
  const [a, b] = [pos(clip.a), pos(clip.b)].sort((x, y) => x - y) as [number, number];
  return clip.keep === 'head' ? text.slice(0, a) : clip.keep === 'tail' ? text.slice(a) : text.slice(a, b);
}

describe('redact: properties', () => {
  it('one secret in one encoding amid random text, cut at random points: no run of min(8, length) characters of it is left, in any encoding', () => {
    fc.assert(
      fc.property(secretArb, encodingArb, fc.integer({ min: 0, max: 2 }), filler(200), filler(200), clipArb, (secret, enc, align, pre, post, clip) => {
        const e = encode(enc, secret, align);
        const text = cut(pre + e + post, clip, pre.length, pre.length + e.length);
        const out = redact(text, [secret]);
        expect(heldRun(out, secret, kOf(secret))).toBeUndefined();
      }),
      runs(1000),
    );
  });

  it('several secrets in several encodings each, interleaved and cut: none of them is left', () => {
    const part = fc.oneof(
      filler(60).map((t) => ({ text: t })),
      fc.record({ secret: fc.nat(2), enc: encodingArb, align: fc.integer({ min: 0, max: 2 }) }),
    );
    fc.assert(
      fc.property(fc.array(secretArb, { minLength: 1, maxLength: 3 }), fc.array(part, { maxLength: 8 }), clipArb, (secrets, parts, clip) => {
        const text = cut(parts.map((p) => ('text' in p ? p.text : encode(p.enc, secrets[p.secret % secrets.length]!, p.align))).join(''), clip);
        const out = new Redactor(secrets.map((x, i) => (i % 2 ? new Secret(x) : x))).redact(text);
        for (const secret of secrets) expect(heldRun(out, secret, kOf(secret))).toBeUndefined();
      }),
      runs(300),
    );
  });

  it('through the error body parser (Neutron, Keystone, Huawei, HTML, text; long enough to be clipped): no text of the CloudError holds a run', () => {
    const shapes = ['neutron', 'keystone', 'huawei', 'html', 'text'] as const;
    fc.assert(
      fc.property(secretArb, encodingArb, fc.constantFrom(...shapes), filler(700), filler(100), fc.integer({ min: 400, max: 599 }), (secret, enc, shape, pre, post, status) => {
        const msg = pre + encode(enc, secret) + post;
        const body =
          shape === 'neutron' ? JSON.stringify({ NeutronError: { type: 'HTTPBadRequest', message: msg, detail: msg } })
          : shape === 'keystone' ? JSON.stringify({ error: { code: status, title: encode(enc, secret), message: msg } })
          : shape === 'huawei' ? JSON.stringify({ error_code: encode(enc, secret), error_msg: msg, request_id: encode(enc, secret) })
          : shape === 'html' ? `<html><body><h1>${status}</h1><p>${msg}</p></body></html>`
          : msg;
        const ct = shape === 'html' ? 'text/html' : shape === 'text' ? 'text/plain' : 'application/json';
        const err = cloudErrorFromResponse({ method: 'POST', path: '/v3/auth/tokens', status, headers: { 'content-type': ct }, body, secrets: new Redactor([secret]) });
        expect(heldRun(seen(err, []), secret, kOf(secret))).toBeUndefined();
      }),
      runs(1000),
    );
  });

  it('precise: text around the secret that cannot be part of any of its encodings is kept, the secret is one ***; scrubbing again changes nothing', () => {
    fc.assert(
      fc.property(secretArb, fc.constantFrom(...ENCODING_NAMES), fc.array(fc.integer({ min: 0x4e00, max: 0x9fff }), { maxLength: 40 }), fc.array(fc.integer({ min: 0x4e00, max: 0x9fff }), { maxLength: 40 }), (secret, enc, a, b) => {
        const own = new Set(cps(secret));
        const text = (xs: number[]) => xs.map((c) => String.fromCodePoint(c)).filter((c) => !own.has(c)).join('');
        const [pre, post] = [text(a), text(b)];
        const out = redact(pre + encode(enc, secret) + post, [secret]);
        expect(out).toBe(`${pre}***${post}`);
        expect(redact(out, [secret])).toBe(out);
      }),
      runs(300),
    );
  });
});

describe('redact: examples', () => {
  const long = 'Ab"c\\d&e<f>g\'h1234567890';
  it('removes runs of 8 characters of a long secret, keeps runs of 7', () => {
    expect(redact(`x ${long.slice(3, 11)} y`, [long])).toBe('x *** y');
    expect(redact(`x ${long.slice(3, 10)} y`, [long])).toBe(`x ${long.slice(3, 10)} y`);
  });
  it('matches a short secret whole only', () => {
    expect(redact('pw=s3cr3t! and s3cr3t', ['s3cr3t!'])).toBe('pw=*** and s3cr3t');
  });
  it('recognises the encodings of the issue', () => {
    const k = 'p"a\\s&s<w>o\'rd-42';
    for (const [name, enc] of Object.entries(ENCODINGS)) expect(redact(`[${enc(k)}]`, [k]), name).toBe('[***]');
    expect(redact(`[${Buffer.from(k).toString('base64')}]`, [k])).toMatch(/^\[\*\*\*[A-Za-z0-9+/=]{0,3}\]$/);
  });
  it('leaves texts alone without secrets, and never prints its secrets', () => {
    expect(redact('a "quoted" text', [])).toBe('a "quoted" text');
    expect(redact('a "quoted" text', [undefined, '', null])).toBe('a "quoted" text');
    const r = new Redactor(['hunter2-secret']);
    expect(r.empty).toBe(false);
    expect(new Redactor([]).empty).toBe(true);
    expect(`${inspect(r)} ${JSON.stringify({ r })} ${String(r)}`).not.toContain('hunter');
  });
  it('is linear: a 1 MB text with a 128-character secret full of specials in well under a second', () => {
    const secret = cps('"\\\'&<>%+/= é€😀\n').join('').repeat(9).slice(0, 128);
    const text = `${'lorem ipsum <p>&quot;x&quot;</p> \\u0041 %22 '.repeat(25_000)}${json(secret)}`;
    const t = performance.now();
    const out = redact(text, [secret]);
    expect(performance.now() - t).toBeLessThan(1_000);
    expect(out.endsWith('***')).toBe(true);
    expect(out.length).toBe(text.length - json(secret).length + 3);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The table rows: an error body per leak of the issue, through the real path.

/** A deterministic 128-character key with `"`, `\`, `'`, `&`, `<`, `>` (no whitespace, no `?`: the PSK rule). */
function key(len: number, seed: number): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789"\\\'&<>!#%+/=_-';
  let x = seed;
  let out = '"\\';
  while (out.length < len) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out += alphabet[x % alphabet.length];
  }
  return out;
}
const PSK = key(128, 41);
const PASSWORD = key(40, 7);
const APP_SECRET = key(64, 13);

interface Answer {
  status: number;
  body: string;
  contentType?: string;
  headers?: Record<string, string>;
}

class Stub {
  server!: Server;
  port = 0;
  /** Answers by `METHOD path`; the token request answers 201 unless set. */
  answers = new Map<string, Answer>();
  token = 'gAAAAAB-token-' + key(60, 99).replace(/[^A-Za-z0-9]/g, 'x');

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    req.on('end', () => {
      const k = `${req.method} ${(req.url ?? '').split('?')[0]}`;
      const a = this.answers.get(k) ??
        (k === 'POST /identity/v3/auth/tokens'
          ? {
              status: 201,
              headers: { 'x-subject-token': this.token },
              body: JSON.stringify({ token: { expires_at: new Date(Date.now() + 3_600_000).toISOString() } }),
            }
          : { status: 404, body: '{"NeutronError": {"type": "HTTPNotFound", "message": "no route"}}' });
      res.writeHead(a.status, { 'content-type': a.contentType ?? 'application/json', ...(a.headers ?? {}) });
      res.end(a.body);
    });
  }

  cloud(auth: Record<string, unknown>, authType = 'password'): { cloud: Cloud; log: string[] } {
    const yaml = JSON.stringify({
      clouds: {
        t: {
          auth_type: authType,
          auth: { auth_url: `http://127.0.0.1:${this.port}/identity/v3`, ...auth },
          network_endpoint_override: `http://127.0.0.1:${this.port}/network`,
          api_timeout: 5,
        },
      },
    });
    const log: string[] = [];
    const rec = (level: string) => (msg: string, meta?: Record<string, unknown>) => log.push(`${level} ${msg} ${inspect(meta, { depth: 5 })} ${JSON.stringify(meta)}`);
    const cloud = createCloud(loadCloudConfigFromString(yaml, 't'), { logger: { debug: rec('debug'), info: rec('info'), warn: rec('warn') } });
    return { cloud, log };
  }
}

/** Everything of an error a person or a log can see. */
function seen(err: unknown, log: string[]): string {
  expect(err).toBeInstanceOf(CloudError);
  const e = err as CloudError;
  return [e.message, e.cloudMessage, e.detail ?? '', e.code ?? '', e.requestId ?? '', JSON.stringify(e), inspect(e, { depth: 5 }), String(e), e.stack ?? '', ...log].join('\n');
}

const conn = IPsecSiteConnection.parse({
  apiVersion: 'vpnaas.dev/v1alpha1',
  kind: 'IPsecSiteConnection',
  metadata: { name: 'to-b', namespace: 'ns', uid: 'u', resourceVersion: '1', generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { vpnServiceRef: { name: 'vpn' }, ikePolicyRef: { name: 'ike' }, ipsecPolicyRef: { name: 'ipsec' }, peerCidrs: ['10.2.0.0/24'], peerAddress: '198.51.100.7', pskSecretRef: { name: 'psk' } },
});
const connInputs = { ids: { vpnServiceRef: 'V', ikePolicyRef: 'I', ipsecPolicyRef: 'P' }, secrets: { pskSecretRef: PSK }, secretVersions: { pskSecretRef: '7' } };
/** The request body the operator sends, as the cloud would echo it. */
const requestBody = JSON.stringify({
  ipsec_site_connection: { name: 'to-b', peer_address: '198.51.100.7', peer_id: '198.51.100.7', mtu: 1500, initiator: 'bi-directional', psk: PSK, vpnservice_id: 'V' },
});
const neutron = (type: string, message: string, detail = ''): string => JSON.stringify({ NeutronError: { type, message, detail } });
/** Python's repr() of a string with both quotes. */
const repr = (s: string): string => `'${pyRepr(true)(s)}'`;
const escHtml = HTML.named!;

interface Row {
  name: string;
  secret: string;
  answer: Answer;
  /** Which call: the site connection create (PSK) or an authentication (password / application credential). */
  via: 'create' | 'update' | 'auth-password' | 'auth-appcred' | 'token';
  /** A part of the cloud's message that must survive the scrub. */
  keeps: string | RegExp;
}

const ROWS: Row[] = [
  {
    name: 'a clipped echo: the 500-character clip cuts the key in the middle',
    secret: PSK,
    via: 'create',
    answer: { status: 400, body: neutron('HTTPBadRequest', `Invalid input for psk. Reason: ${'the key was refused by the policy of the cloud; '.repeat(9)}the key '${PSK}' is not acceptable.`) },
    keeps: /^POST \/network\/v2.0\/vpn\/ipsec-site-connections 400 HTTPBadRequest: Invalid input for psk/,
  },
  {
    name: 'a backslash-doubled echo: the message quotes the JSON request body',
    secret: PSK,
    via: 'create',
    answer: { status: 400, body: neutron('HTTPBadRequest', `Invalid input for operation: request ${requestBody} was refused.`) },
    keeps: 'Invalid input for operation: request {"ipsec_site_connection":{"name":"to-b"',
  },
  {
    name: 'an HTML page with &quot; (the JSON request body HTML-escaped)',
    secret: PSK,
    via: 'create',
    answer: {
      status: 400,
      contentType: 'text/html; charset=utf-8',
      body: `<html><head><title>400 Bad Request</title></head><body><h1>400 Bad Request</h1><p>The server could not read ${escHtml(requestBody)}</p></body></html>`,
    },
    keeps: '400 Bad Request 400 Bad Request The server could not read',
  },
  {
    name: 'a 5xx body: a traceback quoting the key with Python repr (backslashes doubled, quotes raw)',
    secret: PSK,
    via: 'update',
    answer: {
      status: 500,
      contentType: 'text/plain',
      body: `Internal Server Error\nTraceback (most recent call last):\n  File "neutron_vpnaas/db/vpn/vpn_db.py", line 312, in update_ipsec_site_connection\nValueError: psk=${repr(PSK)}\n`,
    },
    keeps: 'Internal Server Error Traceback',
  },
  {
    name: 'a Keystone 401 echoing the password',
    secret: PASSWORD,
    via: 'auth-password',
    answer: { status: 401, body: JSON.stringify({ error: { code: 401, title: 'Unauthorized', message: `The password ${PASSWORD} for user demo is wrong.` } }) },
    keeps: 'POST /identity/v3/auth/tokens 401 Unauthorized: The password',
  },
  {
    name: 'a Keystone 400 schema error quoting the application credential secret (Python repr)',
    secret: APP_SECRET,
    via: 'auth-appcred',
    answer: {
      status: 400,
      body: JSON.stringify({ error: { code: 400, title: 'Bad Request', message: `Invalid input for field 'identity/application_credential/secret': ${repr(APP_SECRET)} is too long` } }),
    },
    keeps: "Invalid input for field 'identity/application_credential/secret'",
  },
  {
    name: 'a 401 of the network echoing the token (after one re-authentication)',
    secret: '', // the stub's token, set below
    via: 'token',
    answer: { status: 401, body: JSON.stringify({ error: { code: 401, title: 'Unauthorized', message: 'The token is expired or revoked' } }) },
    keeps: 'GET /network/v2.0/vpn/ipsec-site-connections',
  },
];

describe('the leaks of the issue, through the real error path: no 8 consecutive characters of a secret, in any encoding', () => {
  const stub = new Stub();
  beforeAll(() => stub.start());
  afterAll(() => new Promise<void>((r) => stub.server.close(() => r())));

  it.each(ROWS)('$name', async (row) => {
    stub.answers.clear();
    let secret = row.secret;
    let err: unknown;
    let log: string[];
    if (row.via === 'create' || row.via === 'update') {
      stub.answers.set(row.via === 'create' ? 'POST /network/v2.0/vpn/ipsec-site-connections' : 'PUT /network/v2.0/vpn/ipsec-site-connections/c1', row.answer);
      const c = stub.cloud({ username: 'demo', password: 'pw-12345678', project_id: 'p', user_domain_name: 'Default' });
      log = c.log;
      const handle = { endpoint: '', cloud: c.cloud, view: <V>(_n: string, make: () => V) => make() } as CloudHandle;
      err = await (row.via === 'create'
        ? siteConnectionAdapter.create(handle, conn, connInputs)
        : siteConnectionAdapter.update(handle, 'c1', { psk: PSK, description: 'x' })
      ).catch((e: unknown) => e);
      await c.cloud.close();
    } else if (row.via === 'token') {
      secret = stub.token;
      const body = JSON.parse(row.answer.body) as { error: { message: string } };
      body.error.message += ` (X-Auth-Token ${stub.token}; base64 ${Buffer.from(stub.token).toString('base64')})`;
      stub.answers.set('GET /network/v2.0/vpn/ipsec-site-connections/c1', { ...row.answer, body: JSON.stringify(body) });
      const c = stub.cloud({ username: 'demo', password: 'pw-12345678', project_id: 'p', user_domain_name: 'Default' });
      log = c.log;
      err = await c.cloud.siteConnections.get('c1').catch((e: unknown) => e);
      await c.cloud.close();
    } else {
      stub.answers.set('POST /identity/v3/auth/tokens', row.answer);
      const c =
        row.via === 'auth-password'
          ? stub.cloud({ username: 'demo', password: PASSWORD, project_id: 'p', user_domain_name: 'Default' })
          : stub.cloud({ application_credential_id: 'ac1', application_credential_secret: APP_SECRET }, 'v3applicationcredential');
      log = c.log;
      err = await c.cloud.siteConnections.get('c1').catch((e: unknown) => e);
      await c.cloud.close();
    }
    const text = seen(err, log);
    // The longest run of the secret the texts hold (before the change: 28, 128, 128, 74, 40, 64 and 74 characters).
    const leak = longestLeak(text, secret);
    expect(leak.length, `${leak.length} characters (${leak.encoding}) in ${text}`).toBeLessThan(8);
    expect((err as CloudError).message).toMatch(row.keeps);
  });
});
