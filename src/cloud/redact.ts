// Scrubbing secrets out of texts that come from outside (error bodies of Neutron, Keystone, proxies): a cloud may
// echo a request, and with it a password, a token or a pre-shared key, escaped in whatever way its framework
// writes text. A Redactor removes every run of a text that spells at least min(8, length) consecutive characters
// of one of its secrets in one of the encodings a server is likely to use:
//   - raw; JSON string escaping (JavaScript's, and Python's with ensure_ascii), once and twice; every character
//     as \uXXXX (both hex cases, also once more JSON-escaped); Python repr (backslashes doubled, \' or not), also
//     JSON-escaped (Keystone's validation errors quote the value with repr);
//   - HTML/XML entities (&quot; &#34; &#x22; &amp; &lt; &gt; &#39; &apos; &#x27; …), of the raw or the
//     JSON-escaped secret (an HTML error page quoting the JSON request body);
//   - percent-encoding (encodeURIComponent, both hex cases; form encoding with +), of the raw or JSON-escaped secret;
//   - base64 (standard and URL-safe) of the secret's UTF-8 bytes, at any of the three byte alignments.
// Each of these also JSON-escaped once more: the text scrubbed may be a JSON body whose strings hold them (scrubbing
// only a part of an occurrence whose whole is not recognised would leave pieces that read as more of the secret
// once the body is decoded). A short secret (under 8 characters) is matched whole. Each covered run becomes `***`.
//
// How: each secret (as code points) is cut into windows of k = min(8, length) consecutive characters; each window,
// encoded by each encoding, is a pattern. An Aho-Corasick automaton over the patterns finds, at each position of
// the text, the longest pattern ending there; the union of these matches is replaced. Building is linear in the
// total length of the patterns (a few thousand characters for a typical secret), scanning linear in the text.
// Matching is case-sensitive and exact per encoding: a text in an encoding not listed here is not recognised.
import type { Secret } from './secret.ts';

/** What a removed run becomes. */
export const REDACTED = '***';
/** Runs of this many consecutive secret characters (or the whole secret, when shorter) are removed. */
export const MIN_RUN = 8;
/** A base64 pattern shorter than this is not used (it would match unrelated text). */
const MIN_BASE64 = 6;

type Enc = (c: string) => string;

const hex = (n: number, width: number, upper: boolean): string => {
  const h = n.toString(16).padStart(width, '0');
  return upper ? h.toUpperCase() : h;
};
const units = (c: string): number[] => Array.from({ length: c.length }, (_, i) => c.charCodeAt(i));
const SHORT: Record<string, string> = { '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const raw: Enc = (c) => c;
/** JavaScript's JSON.stringify. */
const json: Enc = (c) => JSON.stringify(c).slice(1, -1);
/** Python's json.dumps (ensure_ascii): everything outside printable ASCII as \uXXXX (lower case). */
const jsonAscii: Enc = (c) => {
  if (c === '"' || c === '\\') return `\\${c}`;
  if (SHORT[c] !== undefined) return SHORT[c];
  const u = c.charCodeAt(0);
  return c.length === 1 && u >= 0x20 && u < 0x7f ? c : units(c).map((x) => `\\u${hex(x, 4, false)}`).join('');
};
const uEscape = (upper: boolean): Enc => (c) => units(c).map((x) => `\\u${hex(x, 4, upper)}`).join('');
/** Python 3 repr: backslashes doubled, `'` escaped or not (depends on the quotes), non-printables as \xNN etc. */
const pyRepr = (escapeQuote: boolean): Enc => (c) => {
  if (c === '\\') return '\\\\';
  if (c === "'" && escapeQuote) return "\\'";
  if (c === '\n' || c === '\r' || c === '\t') return SHORT[c]!;
  if (c === ' ' || !/^[\p{C}\p{Z}]$/u.test(c)) return c;
  const cp = c.codePointAt(0)!;
  return cp < 0x100 ? `\\x${hex(cp, 2, false)}` : cp < 0x10000 ? `\\u${hex(cp, 4, false)}` : `\\U${hex(cp, 8, false)}`;
};
const entities = (m: Record<string, string>): Enc => (c) => m[c] ?? c;
const NAMED = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const HTML: Enc[] = [
  entities(NAMED), // Ruby ERB
  entities({ ...NAMED, "'": '&apos;' }), // XML
  entities({ ...NAMED, "'": '&#x27;' }), // Python html.escape, Django
  entities({ ...NAMED, "'": '&#039;' }), // PHP htmlspecialchars
  entities({ '&': '&#38;', '<': '&#60;', '>': '&#62;', '"': '&#34;', "'": '&#39;' }), // Go html/template, MarkupSafe
  entities({ '&': '&#x26;', '<': '&#x3c;', '>': '&#x3e;', '"': '&#x22;', "'": '&#x27;' }),
  entities({ '&': '&#x26;', '<': '&#x3C;', '>': '&#x3E;', '"': '&#x22;', "'": '&#x27;' }),
];
const uri = (c: string): string => {
  try {
    return encodeURIComponent(c);
  } catch {
    return c; // a lone surrogate cannot be percent-encoded
  }
};
const pctAlso = (chars: RegExp): Enc => (c) => uri(c).replace(chars, (m) => `%${hex(m.charCodeAt(0), 2, true)}`);
const plus = (e: Enc): Enc => (c) => (c === ' ' ? '+' : e(c));
const PERCENT: Enc[] = [
  uri, // encodeURIComponent
  (c) => uri(c).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
  pctAlso(/[!'()*]/g), // Python urllib.parse.quote
  plus(pctAlso(/[!'()~]/g)), // form encoding: URLSearchParams
  plus(pctAlso(/[!'()*]/g)), // form encoding: Python urlencode / quote_plus
];
/** `outer` applied to each character of what `inner` makes of one character. */
const compose = (inner: Enc, outer: Enc): Enc => (c) => Array.from(inner(c), outer).join('');

/** The character-wise encodings (base64 is done apart), each also inside a JSON string. */
const BASE: Enc[] = [
  raw,
  json,
  jsonAscii,
  compose(json, json),
  compose(json, jsonAscii),
  compose(jsonAscii, jsonAscii),
  uEscape(false),
  uEscape(true),
  compose(uEscape(false), json),
  compose(uEscape(true), json),
  pyRepr(true),
  pyRepr(false),
  ...[true, false].flatMap((q) => [compose(pyRepr(q), json), compose(pyRepr(q), jsonAscii)]), // a JSON body quoting a repr
  ...HTML,
  ...HTML.map((h) => compose(json, h)),
  ...PERCENT,
  ...PERCENT.map((p) => compose(json, p)),
];
const ENCODINGS: Enc[] = [...BASE, ...BASE.map((e) => compose(e, json))];

/** The patterns of one secret: each window of k characters in each encoding. */
function patternsOf(secret: string, out: Set<string>): void {
  const cps = Array.from(secret);
  const k = Math.min(MIN_RUN, cps.length);
  if (k === 0) return;
  for (const enc of ENCODINGS) {
    const pieces = cps.map(enc);
    for (let i = 0; i + k <= cps.length; i++) out.add(pieces.slice(i, i + k).join(''));
  }
  // base64: the characters that depend only on the window's bytes, with the secret at byte offset 0, 1 or 2.
  const starts: number[] = [0];
  for (const c of cps) starts.push(starts[starts.length - 1]! + Buffer.byteLength(c, 'utf8'));
  const bytes = Buffer.from(secret, 'utf8');
  for (let a = 0; a < 3; a++) {
    const std = Buffer.concat([Buffer.alloc(a), bytes]).toString('base64');
    const url = std.replace(/\+/g, '-').replace(/\//g, '_');
    for (let i = 0; i + k <= cps.length; i++) {
      const from = Math.ceil(((a + starts[i]!) * 8) / 6);
      const to = Math.floor(((a + starts[i + k]!) * 8) / 6);
      if (to - from < MIN_BASE64) continue;
      out.add(std.slice(from, to));
      out.add(url.slice(from, to));
    }
  }
}

/** Aho-Corasick over UTF-16 code units; for each node, the length of the longest pattern that ends there. */
class Automaton {
  readonly #edges = new Map<number, number>(); // node * 0x10000 + code unit → child
  readonly #fail: number[] = [0];
  readonly #longest: number[] = [0];
  readonly #firstChild: number[] = [-1];
  readonly #nextSibling: number[] = [-1];
  readonly #unit: number[] = [0];

  constructor(patterns: Iterable<string>) {
    for (const p of patterns) {
      let node = 0;
      for (let i = 0; i < p.length; i++) node = this.#child(node, p.charCodeAt(i));
      this.#longest[node] = p.length;
    }
    // Breadth first: fail links, and the longest pattern that is a suffix of each node's string.
    const queue: number[] = [];
    for (let c = this.#firstChild[0]!; c !== -1; c = this.#nextSibling[c]!) queue.push(c);
    for (let q = 0; q < queue.length; q++) {
      const node = queue[q]!;
      for (let c = this.#firstChild[node]!; c !== -1; c = this.#nextSibling[c]!) {
        const u = this.#unit[c]!;
        let f = this.#fail[node]!;
        while (f !== 0 && !this.#edges.has(f * 0x10000 + u)) f = this.#fail[f]!;
        const target = this.#edges.get(f * 0x10000 + u);
        this.#fail[c] = target !== undefined && target !== c ? target : 0;
        this.#longest[c] = Math.max(this.#longest[c]!, this.#longest[this.#fail[c]!]!);
        queue.push(c);
      }
    }
  }

  #child(node: number, u: number): number {
    const key = node * 0x10000 + u;
    const have = this.#edges.get(key);
    if (have !== undefined) return have;
    const n = this.#fail.length;
    this.#edges.set(key, n);
    this.#fail.push(0);
    this.#longest.push(0);
    this.#firstChild.push(-1);
    this.#nextSibling.push(this.#firstChild[node]!);
    this.#firstChild[node] = n;
    this.#unit.push(u);
    return n;
  }

  /** The maximal runs of `text` covered by matches, as [start, end) pairs in order. */
  runs(text: string): Array<[number, number]> {
    const runs: Array<[number, number]> = [];
    let node = 0;
    for (let i = 0; i < text.length; i++) {
      const u = text.charCodeAt(i);
      let next = this.#edges.get(node * 0x10000 + u);
      while (next === undefined && node !== 0) {
        node = this.#fail[node]!;
        next = this.#edges.get(node * 0x10000 + u);
      }
      node = next ?? 0;
      const len = this.#longest[node]!;
      if (len === 0) continue;
      // Matches come by increasing end; merge with the runs they reach back into.
      let start = i + 1 - len;
      while (runs.length > 0 && runs[runs.length - 1]![1] >= start) start = Math.min(start, runs.pop()![0]);
      runs.push([start, i + 1]);
    }
    return runs;
  }
}

const inspectCustom = Symbol.for('nodejs.util.inspect.custom');

/**
 * Removes a set of secrets from texts. Build one per set of secrets (building costs about the total length of
 * the patterns); it holds no secret in readable form and prints as `Redactor(***)`.
 */
export class Redactor {
  readonly #automaton: Automaton | undefined;

  /** Secrets may be strings or Secret wrappers; empty and undefined ones are ignored. */
  constructor(secrets: Iterable<string | Secret | null | undefined>) {
    const patterns = new Set<string>();
    for (const s of secrets) {
      const v = typeof s === 'string' ? s : s?.reveal();
      if (v) patternsOf(v, patterns);
    }
    this.#automaton = patterns.size > 0 ? new Automaton(patterns) : undefined;
  }

  /** True when there is nothing to remove. */
  get empty(): boolean {
    return this.#automaton === undefined;
  }

  /** `text` with every covered run replaced by `***` (until no run is left: a `***` may join two pieces). */
  redact(text: string): string;
  redact(text: string | undefined): string | undefined;
  redact(text: string | undefined): string | undefined {
    const a = this.#automaton;
    if (a === undefined || text === undefined) return text;
    let cur = text;
    for (let pass = 0; pass < 4; pass++) {
      const runs = a.runs(cur);
      if (runs.length === 0) break;
      let out = '';
      let at = 0;
      for (const [s, e] of runs) {
        out += cur.slice(at, s) + REDACTED;
        at = e;
      }
      out += cur.slice(at);
      if (out === cur) break;
      cur = out;
    }
    return cur;
  }

  toString(): string {
    return 'Redactor(***)';
  }

  toJSON(): string {
    return 'Redactor(***)';
  }

  [inspectCustom](): string {
    return 'Redactor(***)';
  }
}

/** One-off form of `new Redactor(secrets).redact(text)`. */
export function redact(text: string, secrets: Iterable<string | Secret | null | undefined>): string {
  return new Redactor(secrets).redact(text);
}
