// An authenticated request against the network endpoint: token from the Authenticator, URL from the endpoint,
// and on 401 one re-authentication and one retry (SPEC §3.7) before the 401 reaches the caller.
import type { Authenticator } from './auth.ts';
import { CloudError } from './errors.ts';
import type { CloudLogger, HttpRequest, HttpResponse, HttpTransport } from './http.ts';

export interface SessionRequest {
  method: HttpRequest['method'];
  /** Path below the network endpoint (which ends in /v2.0), with the query string, e.g. `/vpn/vpnservices?limit=10`. */
  path: string;
  route: string;
  body?: unknown;
  expect?: readonly number[];
  /** Secrets in the body (a PSK): kept out of the texts of an error (HttpRequest.secrets). */
  secrets?: readonly string[] | undefined;
}

export class NetworkSession {
  readonly #http: HttpTransport;
  readonly #auth: Authenticator;
  readonly #logger: CloudLogger | undefined;

  constructor(http: HttpTransport, auth: Authenticator, logger?: CloudLogger) {
    this.#http = http;
    this.#auth = auth;
    this.#logger = logger;
  }

  async request(req: SessionRequest): Promise<HttpResponse> {
    const token = await this.#auth.token();
    try {
      return await this.#send(req, token);
    } catch (e) {
      if (!(e instanceof CloudError) || e.status !== 401 || !this.#auth.canReauthenticate) throw e;
      this.#logger?.info('token refused; authenticating again', {
        method: req.method,
        route: req.route,
        requestId: e.requestId,
      });
      this.#auth.invalidate(token);
      const fresh = await this.#auth.token();
      return await this.#send(req, fresh);
    }
  }

  async #send(req: SessionRequest, token: Awaited<ReturnType<Authenticator['token']>>): Promise<HttpResponse> {
    const base = await this.#auth.networkEndpoint(token);
    const r: HttpRequest = { method: req.method, url: base + req.path, route: req.route, token: token?.value };
    if (req.body !== undefined) r.body = req.body;
    if (req.expect !== undefined) r.expect = req.expect;
    if (req.secrets !== undefined) r.secrets = req.secrets;
    return this.#http.send(r);
  }
}
