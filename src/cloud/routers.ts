// Neutron routers, read only: whether the credentials can see a router (GET /v2.0/routers/{id}). A router of
// another project answers 404, as a missing one does.
import { z } from 'zod';
import { CloudError, classify } from './errors.ts';
import type { NetworkSession } from './session.ts';

const RouterSchema = z.object({ router: z.object({ id: z.string(), tenant_id: z.string().optional(), project_id: z.string().optional() }) });
export type RouterInfo = z.infer<typeof RouterSchema>['router'];

export class RouterClient {
  readonly #session: NetworkSession;
  constructor(session: NetworkSession) {
    this.#session = session;
  }

  /** The router, or undefined when the cloud says it does not exist for these credentials (404). */
  async get(id: string): Promise<RouterInfo | undefined> {
    const path = `/routers/${encodeURIComponent(id)}?fields=id&fields=tenant_id&fields=project_id`;
    try {
      const res = await this.#session.request({ method: 'GET', path, route: '/routers/{id}' });
      const parsed = RouterSchema.safeParse(JSON.parse(res.text));
      if (!parsed.success) {
        throw new CloudError({ status: res.status, code: 'InvalidResponse', cloudMessage: 'unexpected router response', requestId: res.requestId, method: 'GET', path: '/routers/{id}' });
      }
      return parsed.data.router;
    } catch (err) {
      if (classify(err) === 'notFound') return undefined;
      throw err;
    }
  }
}
