// All kinds together: one Controller per kind (informer, queue, workers, generic reconciler with the kind's
// adapter), sharing the dependency index (who references whom, SPEC §3.13) and the Secret inputs. Wake-ups cross
// kinds here: a target that changed wakes its dependents (a new cloud id to follow, a reference now usable); a
// dependent that changed or went away wakes its targets (a deletion guard or a replaced resource waiting on it); a
// Secret that changed wakes the objects that take a value from it.
import { z } from 'zod';
import { GROUP, VERSION } from '../api/common.ts';
import { EG_KIND, EG_PLURAL, EndpointGroup } from '../api/endpointgroup.ts';
import { IKE_KIND, IKE_PLURAL, IKEPolicy, IPSEC_KIND, IPSEC_PLURAL, IPsecPolicy } from '../api/policies.ts';
import { CONN_KIND, CONN_PLURAL, IPsecSiteConnection } from '../api/siteconnection.ts';
import type { CloudResource, ResourceAdapter } from '../core/adapter.ts';
import { DependencyIndex, type Ref, type TargetState } from '../core/deps.ts';
import { CREATE_INTENT_ANNOTATION } from '../core/intent.ts';
import type { DependencySource } from '../core/reconciler.ts';
import { readyCondition } from '../core/conditions.ts';
import { objectKey, type ManagedObject } from '../core/types.ts';
import type { KindInfo } from '../core/writer.ts';
import { endpointGroupAdapter } from '../kinds/endpointgroup/adapter.ts';
import { ikePolicyAdapter, ipsecPolicyAdapter } from '../kinds/policies/adapter.ts';
import { siteConnectionAdapter } from '../kinds/siteconnection/adapter.ts';
import { Controller, VPNSERVICE_WIRING, type ControllerOptions, type KindWiring } from './controller.ts';
import { SecretInputs } from './secrets.ts';


function info<O>(kind: string, plural: string, schema: z.ZodType<O>): KindInfo<O> {
  return { group: GROUP, version: VERSION, plural, kind, parse: (raw) => schema.parse(raw) };
}

function wiring<O extends ManagedObject, R extends CloudResource, P>(
  kind: string,
  plural: string,
  schema: z.ZodType<O>,
  adapter: ResourceAdapter<O, R, P>,
): KindWiring<O, R, P> {
  return { info: info(kind, plural, schema), schema, adapter };
}

/** Every kind the operator manages, VpnService first. */
export const WIRINGS = [
  VPNSERVICE_WIRING,
  wiring(IKE_KIND, IKE_PLURAL, IKEPolicy as unknown as z.ZodType<IKEPolicy>, ikePolicyAdapter),
  wiring(IPSEC_KIND, IPSEC_PLURAL, IPsecPolicy as unknown as z.ZodType<IPsecPolicy>, ipsecPolicyAdapter),
  wiring(EG_KIND, EG_PLURAL, EndpointGroup as unknown as z.ZodType<EndpointGroup>, endpointGroupAdapter),
  wiring(CONN_KIND, CONN_PLURAL, IPsecSiteConnection as unknown as z.ZodType<IPsecSiteConnection>, siteConnectionAdapter),
] as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the controllers of different kinds, held together
type AnyController = Controller<any, any, any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyAdapter = ResourceAdapter<any, any, any>;

export class Manager {
  readonly controllers: AnyController[];
  readonly byKind = new Map<string, AnyController>();
  readonly secrets: SecretInputs;
  private readonly adapters = new Map<string, AnyAdapter>();
  private readonly index = new DependencyIndex();

  constructor(opts: ControllerOptions) {
    this.secrets = new SecretInputs({
      kube: opts.kube,
      log: opts.log,
      onChange: (ns, name) => {
        for (const user of this.secrets.usersOf(ns, name)) this.enqueue(user);
      },
    });
    const deps: DependencySource = {
      stateOf: (ref) => this.stateOf(ref),
      dependentsOf: (obj) => this.dependents(obj).map((d) => `${d.kind} ${objectKey(d)}`),
      usersOf: (obj, id) =>
        this.dependents(obj)
          .filter((d) => this.adapters.get(d.kind)?.usedIds?.(d).includes(id))
          .map((d) => `${d.kind} ${objectKey(d)}`),
    };
    this.controllers = WIRINGS.map((w) => {
      const kind = w.info.kind;
      this.adapters.set(kind, w.adapter as AnyAdapter);
      const c: AnyController = new Controller({
        ...opts,
        wiring: w as unknown as KindWiring<ManagedObject, CloudResource, unknown>,
        deps,
        secrets: this.secrets,
        events: { changed: (old: ManagedObject | undefined, o: ManagedObject | undefined) => this.changed(kind, old, o) },
      });
      this.byKind.set(kind, c);
      return c;
    });
  }

  private stateOf(ref: Ref): TargetState {
    const o = this.byKind.get(ref.kind)?.get(`${ref.namespace}/${ref.name}`) as ManagedObject | undefined;
    if (!o) return { state: 'missing' };
    if (o.metadata.deletionTimestamp) return { state: 'deleting' };
    if (o.status?.id) return { state: 'ready', id: o.status.id };
    return { state: 'notReady', reason: readyCondition(o.status?.conditions)?.reason ?? 'not reconciled yet' };
  }

  /** Objects that reference `obj` and may have something in the cloud that uses it. */
  private dependents(obj: ManagedObject): ManagedObject[] {
    const out: ManagedObject[] = [];
    for (const key of this.index.dependentsOf(obj.kind, obj.metadata.namespace, obj.metadata.name)) {
      const [kind, ns, name] = key.split('/') as [string, string, string];
      const d = this.byKind.get(kind)?.get(`${ns}/${name}`) as ManagedObject | undefined;
      if (!d) continue;
      const mayUse = d.status?.id !== undefined || d.spec.importId !== undefined || d.metadata.annotations?.[CREATE_INTENT_ANNOTATION] !== undefined;
      if (mayUse) out.push(d);
    }
    return out;
  }

  private enqueue(kindKey: string): void {
    const i = kindKey.indexOf('/');
    this.byKind.get(kindKey.slice(0, i))?.enqueue(kindKey.slice(i + 1));
  }

  private changed(kind: string, old: ManagedObject | undefined, o: ManagedObject | undefined): void {
    const cur = o ?? old!;
    const ns = cur.metadata.namespace;
    const name = cur.metadata.name;
    const depKey = `${kind}/${ns}/${name}`;
    const adapter = this.adapters.get(kind);
    // This object as a dependent: its references and Secret inputs.
    const refs = o ? (adapter?.references?.(o) ?? []) : [];
    const before = old ? (adapter?.references?.(old) ?? []) : [];
    if (o) {
      this.index.set(depKey, refs);
      const si = adapter?.secretInputs?.(o) ?? [];
      if (si.length) this.secrets.use(depKey, si.map((s) => ({ namespace: ns, name: s.name })));
    } else {
      this.index.remove(depKey);
      this.secrets.release(depKey);
    }
    // Its targets look again when what they wait on may have moved: it went away, started deleting, or the ids it
    // uses changed (a deletion guard, or a replaced resource that may go now).
    const usedBefore = old ? JSON.stringify(adapter?.usedIds?.(old) ?? []) : '';
    const usedAfter = o ? JSON.stringify(adapter?.usedIds?.(o) ?? []) : '';
    if (!o || usedBefore !== usedAfter || (!old?.metadata.deletionTimestamp && o.metadata.deletionTimestamp)) {
      for (const r of [...before, ...refs]) this.enqueue(`${r.kind}/${r.namespace}/${r.name}`);
    }
    // This object as a target: its dependents look again when its cloud id or usability changed.
    const targetMoved =
      !old || !o || old.status?.id !== o.status?.id || !old.metadata.deletionTimestamp !== !o.metadata.deletionTimestamp;
    if (targetMoved) for (const d of this.index.dependentsOf(kind, ns, name)) this.enqueue(d);
  }

  /** Starts every cache. Resolves with whether all synced. */
  async startInformer(): Promise<boolean> {
    const ok = await Promise.all(this.controllers.map((c) => c.startInformer()));
    return ok.every(Boolean);
  }

  async startWorkers(): Promise<void> {
    this.secrets.start();
    await Promise.all(this.controllers.map((c) => c.startWorkers()));
  }

  synced(): boolean {
    return this.controllers.every((c) => c.synced());
  }

  async stop(deadlineMs = 20_000): Promise<boolean> {
    this.secrets.stop();
    const ended = await Promise.all(this.controllers.map((c) => c.stop(deadlineMs)));
    return ended.every(Boolean);
  }

  set onStaleRead(f: (key: string) => void) {
    for (const c of this.controllers) c.reconciler.onStaleRead = f;
  }
}
