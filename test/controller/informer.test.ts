// The informer against a real kube-apiserver. Between the two sits a plain TCP proxy (TLS passes through it
// untouched) that can cut connections, refuse new ones, or stall existing ones, to drive the watch through its
// failure paths.
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  Watch,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { z } from 'zod';
import { createInformer, type DeleteReason, type Informer, type InformerOptions } from '../../src/controller/informer.ts';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';

// ---------------------------------------------------------------------------------------------------------------
// Helpers

class TcpProxy {
  readonly port: number;
  private readonly server: net.Server;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private blocked = false;
  accepted = 0;

  private constructor(server: net.Server, port: number) {
    this.server = server;
    this.port = port;
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no proxy address');
    const proxy = new TcpProxy(server, addr.port);
    server.on('connection', (client) => proxy.accept(client, targetPort));
    return proxy;
  }

  private accept(client: net.Socket, targetPort: number): void {
    if (this.blocked) {
      client.destroy();
      return;
    }
    this.accepted++;
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    this.pairs.add(pair);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Open proxied connections. */
  open(): number {
    return this.pairs.size;
  }

  /** Drops every open connection. */
  cut(): void {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Drops every connection and refuses new ones until unblock(). */
  block(): void {
    this.blocked = true;
    this.cut();
  }

  unblock(): void {
    this.blocked = false;
  }

  /** Stops moving bytes on the open connections, without closing them (a silent hang). New ones work. */
  freeze(): void {
    for (const { client, upstream } of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The same credentials, talking to `server`. */
function kubeConfigFor(kc: KubeConfig, server: string): KubeConfig {
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: kc.getClusters().map((c) => ({ ...c, server })),
    users: kc.getUsers(),
    contexts: kc.getContexts(),
    currentContext: kc.getCurrentContext(),
  });
  return out;
}

async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Seen<T> {
  adds: T[];
  updates: Array<[T, T]>;
  deletes: Array<[T, DeleteReason]>;
  invalid: Array<[string, Error]>;
  warnings: string[];
}

function recorder<T>(): Seen<T> & Pick<InformerOptions<T>, 'onAdd' | 'onUpdate' | 'onDelete' | 'onInvalid' | 'logger'> {
  const seen: Seen<T> = { adds: [], updates: [], deletes: [], invalid: [], warnings: [] };
  return {
    ...seen,
    onAdd: (o) => seen.adds.push(o),
    onUpdate: (a, b) => seen.updates.push([a, b]),
    onDelete: (o, why) => seen.deletes.push([o, why]),
    onInvalid: (k, e) => seen.invalid.push([k, e]),
    logger: { warn: (m, meta) => seen.warnings.push(`${m} ${JSON.stringify(meta)}`) },
  };
}

const cmSchema = z.object({
  metadata: z
    .object({
      name: z.string(),
      namespace: z.string(),
      resourceVersion: z.string(),
      labels: z.record(z.string(), z.string()).optional(),
    })
    .loose(), // passes unknown metadata through: shows that managedFields are dropped by the informer itself
  data: z.record(z.string(), z.string()).optional(),
});
type Cm = z.infer<typeof cmSchema>;
const nameOf = (o: { metadata: { name: string } }): string => o.metadata.name;

// ---------------------------------------------------------------------------------------------------------------

let cp: ControlPlane;
let core: CoreV1Api;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  cp = await startControlPlane();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
});

afterAll(async () => {
  await cp?.stop();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function namespace(name: string): Promise<string> {
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

async function proxy(): Promise<TcpProxy> {
  const p = await TcpProxy.start(Number(new URL(cp.server).port));
  cleanups.push(() => p.close());
  return p;
}

function informer<T>(opts: InformerOptions<T>): Informer<T> {
  const inf = createInformer(opts);
  cleanups.push(() => inf.stop());
  inf.start();
  return inf;
}

async function createCm(ns: string, name: string, data: Record<string, string>, labels?: Record<string, string>): Promise<void> {
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels }, data } });
}

async function updateCm(ns: string, name: string, data: Record<string, string>): Promise<void> {
  const cur = await core.readNamespacedConfigMap({ name, namespace: ns });
  await core.replaceNamespacedConfigMap({ name, namespace: ns, body: { ...cur, data } });
}

async function deleteCm(ns: string, name: string): Promise<void> {
  await core.deleteNamespacedConfigMap({ name, namespace: ns });
}

describe('informer against a real kube-apiserver', () => {
  it('lists in pages, syncs, then follows adds, updates and deletes', async () => {
    const ns = await namespace('inf-basic');
    for (let i = 0; i < 25; i++) await createCm(ns, `cm-${i}`, { n: String(i) }, { app: 'x' });
    await createCm(ns, 'other', { n: 'x' }); // no label: filtered out by the label selector
    const raw = await core.readNamespacedConfigMap({ name: 'cm-0', namespace: ns });
    expect(raw.metadata?.managedFields?.length).toBeGreaterThan(0);

    const rec = recorder<Cm>();
    const inf = informer({
      kubeConfig: cp.kubeConfig,
      path: `/api/v1/namespaces/${ns}/configmaps`,
      labelSelector: 'app=x',
      schema: cmSchema,
      pageSize: 10,
      ...rec,
    });
    expect(await inf.waitForSync()).toBe(true);
    expect(inf.hasSynced()).toBe(true);
    expect(inf.size()).toBe(25);
    expect(rec.adds).toHaveLength(25);
    expect(inf.stats()).toMatchObject({ lists: 1, pages: 3 });
    const cm0 = inf.get(`${ns}/cm-0`);
    expect(cm0?.data).toEqual({ n: '0' });
    expect(cm0?.metadata).not.toHaveProperty('managedFields');
    expect(inf.get(`${ns}/other`)).toBeUndefined();
    expect(inf.keys().sort()).toEqual(Array.from({ length: 25 }, (_, i) => `${ns}/cm-${i}`).sort());

    await createCm(ns, 'cm-new', { n: 'new' }, { app: 'x' });
    await updateCm(ns, 'cm-0', { n: 'zero' });
    await deleteCm(ns, 'cm-1');
    await until(() => rec.deletes.length === 1, 'the delete event');
    expect(rec.adds.map(nameOf).at(-1)).toBe('cm-new');
    expect(rec.updates.map(([a, b]) => [nameOf(a), a.data?.n, b.data?.n])).toEqual([['cm-0', '0', 'zero']]);
    expect(rec.deletes.map(([o, why]) => [nameOf(o), why])).toEqual([['cm-1', 'watch']]);
    expect(inf.get(`${ns}/cm-0`)?.data?.n).toBe('zero');
    expect(inf.get(`${ns}/cm-1`)).toBeUndefined();
    expect(inf.size()).toBe(25);
    expect(inf.resourceVersion()).not.toBe('');
    expect(inf.stats()).toMatchObject({ lists: 1, errors: 0 });
  });

  it('resumes a cut watch from the last resourceVersion, seeing what changed meanwhile, without a relist', async () => {
    const ns = await namespace('inf-cut');
    for (const n of ['a', 'b', 'c']) await createCm(ns, n, { v: '1' });
    const p = await proxy();
    const rec = recorder<Cm>();
    const inf = informer({
      kubeConfig: kubeConfigFor(cp.kubeConfig, `https://127.0.0.1:${p.port}`),
      path: `/api/v1/namespaces/${ns}/configmaps`,
      schema: cmSchema,
      backoffBaseMs: 100,
      backoffMaxMs: 500,
      ...rec,
    });
    await inf.waitForSync();
    await until(() => inf.stats().watches === 1, 'the first watch');

    p.block();
    await until(() => inf.stats().errors >= 2, 'failed attempts while the proxy refuses connections');
    await createCm(ns, 'd', { v: '1' });
    await updateCm(ns, 'a', { v: '2' });
    await deleteCm(ns, 'b');
    expect(inf.get(`${ns}/a`)?.data?.v).toBe('1');
    p.unblock();

    await until(() => rec.deletes.length === 1 && rec.adds.length === 4 && rec.updates.length === 1, 'the missed events');
    expect(rec.deletes.map(([o, why]) => [nameOf(o), why])).toEqual([['b', 'watch']]);
    expect(inf.get(`${ns}/a`)?.data?.v).toBe('2');
    expect(inf.keys().sort()).toEqual([`${ns}/a`, `${ns}/c`, `${ns}/d`]);
    expect(inf.stats()).toMatchObject({ lists: 1, expired: 0 });
    expect(inf.stats().watches).toBeGreaterThanOrEqual(2);
    expect(rec.warnings.some((w) => w.includes('watch failed'))).toBe(true);
  });

  it('relists after 410 Gone, with synthetic deletes and updates for what changed while disconnected', async () => {
    const ext = cp.kubeConfig.makeApiClient(ApiextensionsV1Api);
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    const crdName = 'widgets.test.vpnaas.dev';
    const crd: V1CustomResourceDefinition = {
      metadata: { name: crdName },
      spec: {
        group: 'test.vpnaas.dev',
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
              },
            },
          },
        ],
      },
    };
    await ext.createCustomResourceDefinition({ body: crd });
    const ns = await namespace('inf-gone');
    const w = { group: 'test.vpnaas.dev', version: 'v1', namespace: ns, plural: 'widgets' };
    const path = `/apis/test.vpnaas.dev/v1/namespaces/${ns}/widgets`;
    const put = async (name: string, size: number): Promise<void> => {
      const body = { apiVersion: 'test.vpnaas.dev/v1', kind: 'Widget', metadata: { name }, spec: { size } };
      for (;;) {
        try {
          await custom.createNamespacedCustomObject({ ...w, body });
          return;
        } catch (err) {
          // Served a moment after the CRD is created.
          if (!(typeof err === 'object' && err !== null && 'code' in err && err.code === 404)) throw err;
          await sleep(100);
        }
      }
    };
    for (const [n, s] of [['w1', 1], ['w2', 2], ['w3', 3]] as const) await put(n, s);

    const schema = z.object({
      metadata: z.object({ name: z.string(), namespace: z.string(), resourceVersion: z.string() }),
      spec: z.object({ size: z.number() }),
    });
    const p = await proxy();
    const rec = recorder<z.infer<typeof schema>>();
    const inf = informer({
      kubeConfig: kubeConfigFor(cp.kubeConfig, `https://127.0.0.1:${p.port}`),
      path,
      schema,
      backoffBaseMs: 100,
      backoffMaxMs: 500,
      ...rec,
    });
    await inf.waitForSync();
    await until(() => inf.stats().watches === 1, 'the first watch');
    expect(inf.keys().sort()).toEqual([`${ns}/w1`, `${ns}/w2`, `${ns}/w3`]);
    const rvBefore = inf.resourceVersion();

    p.block();
    await custom.deleteNamespacedCustomObject({ ...w, name: 'w1' });
    const w2 = z.object({ metadata: z.object({ resourceVersion: z.string() }) }).parse(
      await custom.getNamespacedCustomObject({ ...w, name: 'w2' }),
    );
    await custom.replaceNamespacedCustomObject({
      ...w,
      name: 'w2',
      body: {
        apiVersion: 'test.vpnaas.dev/v1',
        kind: 'Widget',
        metadata: { name: 'w2', resourceVersion: w2.metadata.resourceVersion },
        spec: { size: 20 },
      },
    });
    await put('w4', 4);
    // A change of the CRD's schema gives the resource a new watch cache, which starts after rvBefore: resuming
    // from rvBefore now gets 410 Gone.
    const cur = await ext.readCustomResourceDefinition({ name: crdName });
    const version = cur.spec.versions[0]!;
    version.schema = { openAPIV3Schema: { ...version.schema?.openAPIV3Schema, description: 'changed' } };
    await ext.replaceCustomResourceDefinition({ name: crdName, body: cur });
    const gone = async (): Promise<boolean> => {
      const code = await new Promise<number | undefined>((resolve) => {
        let got: number | undefined;
        void new Watch(cp.kubeConfig)
          .watch(path, { resourceVersion: rvBefore }, (type, obj: { code?: number }) => {
            if (type === 'ERROR') got = obj.code;
          }, () => resolve(got))
          .then((ac) => setTimeout(() => ac.abort(), 500));
      });
      return code === 410;
    };
    for (let i = 0; !(await gone()); i++) {
      if (i > 100) throw new Error('resourceVersion never expired');
      await sleep(100);
    }
    p.unblock();

    await until(() => inf.stats().lists === 2, 'the relist');
    expect(inf.stats().expired).toBeGreaterThanOrEqual(1);
    expect(rec.deletes.map(([o, why]) => [nameOf(o), why])).toEqual([['w1', 'relist']]);
    expect(rec.updates.map(([a, b]) => [nameOf(a), a.spec.size, b.spec.size])).toEqual([['w2', 2, 20]]);
    expect(rec.adds.map(nameOf).sort()).toEqual(['w1', 'w2', 'w3', 'w4']);
    expect(inf.keys().sort()).toEqual([`${ns}/w2`, `${ns}/w3`, `${ns}/w4`]);

    // The watch goes on after the relist.
    await until(() => inf.stats().watches >= 2, 'a watch after the relist');
    await custom.deleteNamespacedCustomObject({ ...w, name: 'w3' });
    await until(() => rec.deletes.length === 2, 'the delete after the relist');
    expect(rec.deletes[1]?.[1]).toBe('watch');
    await ext.deleteCustomResourceDefinition({ name: crdName });
  });

  it('keeps objects the schema refuses out of the store, reports them, and goes on', async () => {
    const ns = await namespace('inf-invalid');
    const schema = z.object({
      metadata: z.object({ name: z.string(), namespace: z.string(), resourceVersion: z.string() }),
      data: z.object({ port: z.string().regex(/^\d+$/) }),
    }).superRefine((o) => {
      if (o.data.port === '666') throw new Error('a schema refinement that throws');
    });
    await createCm(ns, 'good', { port: '80' });
    await createCm(ns, 'bad', { port: 'eighty' });
    const rec = recorder<z.infer<typeof schema>>();
    const inf = informer({
      kubeConfig: cp.kubeConfig,
      path: `/api/v1/namespaces/${ns}/configmaps`,
      schema,
      ...rec,
      onAdd: (o) => {
        rec.onAdd?.(o);
        if (o.metadata.name === 'throws') throw new Error('handler bug');
      },
    });
    await inf.waitForSync();
    expect(inf.keys()).toEqual([`${ns}/good`]);
    expect(rec.invalid.map(([k]) => k)).toEqual([`${ns}/bad`]);
    expect(rec.invalid[0]?.[1]).toBeInstanceOf(z.ZodError);

    await createCm(ns, 'bad2', {}); // invalid on arrival over the watch
    await createCm(ns, 'evil', { port: '666' }); // the schema itself throws: invalid as well
    await createCm(ns, 'throws', { port: '1' }); // a handler that throws is logged, nothing else
    await updateCm(ns, 'bad', { port: '8080' }); // becomes valid: an add
    await updateCm(ns, 'good', { port: 'x' }); // becomes invalid: leaves the store
    await createCm(ns, 'later', { port: '2' });
    await until(() => inf.get(`${ns}/later`) !== undefined, 'the last object');
    expect(rec.invalid.map(([k]) => k)).toEqual([`${ns}/bad`, `${ns}/bad2`, `${ns}/evil`, `${ns}/good`]);
    expect(rec.invalid[2]?.[1].message).toMatch(/throws/);
    expect(rec.deletes.map(([o, why]) => [nameOf(o), why])).toEqual([['good', 'invalid']]);
    expect(rec.adds.map(nameOf)).toEqual(['good', 'throws', 'bad', 'later']);
    expect(inf.keys().sort()).toEqual([`${ns}/bad`, `${ns}/later`, `${ns}/throws`]);
    expect(rec.warnings.filter((w) => w.includes('handler threw'))).toHaveLength(1);
    expect(inf.stats().errors).toBe(0);
  });

  it('resumes watches the server ends, and the watchdog ends a silent one', async () => {
    const ns = await namespace('inf-timeouts');
    const rec = recorder<Cm>();
    // Watches of 1-2 s: the server ends them, the informer resumes from the last resourceVersion.
    const short = informer({
      kubeConfig: cp.kubeConfig,
      path: `/api/v1/namespaces/${ns}/configmaps`,
      schema: cmSchema,
      minWatchTimeoutSeconds: 1,
      ...rec,
    });
    await short.waitForSync();
    await until(() => short.stats().watches >= 3, 'three watches', 20_000);
    await createCm(ns, 'x', { v: '1' });
    await until(() => short.get(`${ns}/x`) !== undefined, 'the add');
    expect(short.stats()).toMatchObject({ lists: 1, errors: 0, expired: 0 });

    // A watch whose connection stalls without closing: only the watchdog notices.
    const p = await proxy();
    const rec2 = recorder<Cm>();
    const silent = informer({
      kubeConfig: kubeConfigFor(cp.kubeConfig, `https://127.0.0.1:${p.port}`),
      path: `/api/v1/namespaces/${ns}/configmaps`,
      schema: cmSchema,
      watchdogMs: 1_500,
      backoffBaseMs: 100,
      backoffMaxMs: 200,
      ...rec2,
    });
    await silent.waitForSync();
    await until(() => silent.stats().watches === 1, 'the first watch');
    p.freeze();
    await createCm(ns, 'y', { v: '1' });
    await until(() => silent.get(`${ns}/y`) !== undefined, 'the add after the watchdog restarted the watch');
    expect(silent.stats().watchdogAborts).toBeGreaterThanOrEqual(1);
    expect(silent.stats()).toMatchObject({ lists: 1, expired: 0 });
    expect(rec2.warnings.some((w) => w.includes('no data on the watch'))).toBe(true);
    p.cut();
  });

  it('stop() ends the watch, closes its connections and leaves no timer, also while backing off', async () => {
    const ns = await namespace('inf-stop');
    await createCm(ns, 'a', { v: '1' });
    const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const baseline = timeouts();
    const p = await proxy();
    const rec = recorder<Cm>();
    const inf = createInformer({
      kubeConfig: kubeConfigFor(cp.kubeConfig, `https://127.0.0.1:${p.port}`),
      path: `/api/v1/namespaces/${ns}/configmaps`,
      schema: cmSchema,
      ...rec,
    });
    inf.start();
    expect(await inf.waitForSync()).toBe(true);
    await until(() => inf.stats().watches === 1, 'the watch');
    expect(p.open()).toBeGreaterThan(0);
    await inf.stop();
    await until(() => p.open() === 0, 'connections to close', 5_000);
    await until(() => timeouts() <= baseline, 'timers to go', 5_000);
    const stats = inf.stats();
    await createCm(ns, 'b', { v: '1' });
    await sleep(300);
    expect(inf.stats()).toEqual(stats);
    expect(rec.adds.map(nameOf)).toEqual(['a']);
    expect(() => inf.start()).toThrow(/stopped/);

    // Stopped while waiting out a backoff after failures.
    p.block();
    const inf2 = createInformer({
      kubeConfig: kubeConfigFor(cp.kubeConfig, `https://127.0.0.1:${p.port}`),
      path: `/api/v1/namespaces/${ns}/configmaps`,
      schema: cmSchema,
      backoffBaseMs: 60_000,
      logger: { warn: () => undefined },
    });
    inf2.start();
    const synced = inf2.waitForSync();
    await until(() => inf2.stats().errors === 1, 'a failed list');
    await inf2.stop();
    expect(await synced).toBe(false);
    expect(inf2.hasSynced()).toBe(false);
    await until(() => timeouts() <= baseline, 'timers to go', 5_000);
  });
});
