// The create intent: written (with the finalizer) before any create, kept for the object's life. It says "this
// object may have POSTed a resource named <name> on <scope> of <endpoint> since <at>". It is what holds a claim
// durably across crashes, restarts and leader changes, and what recovery matches cloud resources against.
import type { ManagedObject } from './types.ts';
import { z } from 'zod';

import { CREATE_INTENT_ANNOTATION } from '../api/vpnservice.ts';

export { CREATE_INTENT_ANNOTATION };

export interface Intent {
  /** The cloud name used for the POST. */
  name: string;
  /** Canonical scope (router) the create is for; undefined for kinds without an exclusive scope. */
  scope?: string | undefined;
  /** Cloud endpoint the create is for; undefined in intents written by older versions. */
  endpoint?: string | undefined;
  /** When the intent was stored (ms); undefined in intents written by older versions (treated as old). */
  at?: number | undefined;
}

const IntentJson = z.object({
  name: z.string(),
  scope: z.string().optional(),
  endpoint: z.string().optional(),
  at: z.string().optional(),
});

/** The intent recorded on an object, if any. An older plain-name value is read as {name}. */
export function readIntent(obj: ManagedObject): Intent | undefined {
  const raw = obj.metadata.annotations?.[CREATE_INTENT_ANNOTATION];
  if (raw === undefined) return undefined;
  if (raw.startsWith('{')) {
    try {
      const j = IntentJson.parse(JSON.parse(raw));
      const at = j.at !== undefined ? Date.parse(j.at) : undefined;
      return { name: j.name, scope: j.scope, endpoint: j.endpoint, at: at !== undefined && !Number.isNaN(at) ? at : undefined };
    } catch {
      // Not ours after all: a name that starts with "{".
    }
  }
  return { name: raw };
}

export function encodeIntent(i: Intent): string {
  const j: z.infer<typeof IntentJson> = { name: i.name };
  if (i.scope !== undefined) j.scope = i.scope;
  if (i.endpoint !== undefined) j.endpoint = i.endpoint;
  if (i.at !== undefined) j.at = new Date(i.at).toISOString();
  return JSON.stringify(j);
}

/** The names a create of this object may have used: the recorded one and the current one (after a rename). */
export function candidateNames(intent: Intent | undefined, currentName: string): Set<string> {
  const names = new Set([currentName]);
  if (intent) names.add(intent.name);
  return names;
}
