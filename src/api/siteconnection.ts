// IPsecSiteConnection (vpnaas.dev/v1alpha1): one tunnel from a VPN service to a peer. Other objects of the namespace
// are named by reference (their cloud ids come from their status); the pre-shared key comes from a Secret, never
// from the spec.
import { z } from 'zod';
import { LocalRef, SecretKeyRef, managedSpecFields, managedStatusFields, objectSchema } from './common.ts';

export const CONN_KIND = 'IPsecSiteConnection';
export const CONN_PLURAL = 'ipsecsiteconnections';

/** The PSK rules the seed clouds document: 6-128 characters, no spaces, no `?`. */
export const PSK_RULE = /^[^\s?]{6,128}$/u;

export const Dpd = z.object({
  action: z.enum(['clear', 'disabled', 'hold', 'restart', 'restart-by-peer']).default('hold'),
  interval: z.number().int().min(1).max(86_400).default(30),
  timeout: z.number().int().min(1).max(86_400).default(120),
});
export type Dpd = z.infer<typeof Dpd>;

export const IPsecSiteConnectionSpec = z.object({
  name: z.string().min(1).max(255).optional(),
  description: z.string().max(255).optional(),
  vpnServiceRef: LocalRef,
  ikePolicyRef: LocalRef,
  ipsecPolicyRef: LocalRef,
  localEndpointGroupRef: LocalRef.optional(),
  peerEndpointGroupRef: LocalRef.optional(),
  /** Legacy: the peer's CIDRs (for a VPN service with a subnet), instead of the endpoint groups. */
  peerCidrs: z.array(z.string().min(1).max(64)).min(1).max(100).optional(),
  /** The peer gateway's public IPv4/IPv6 address or FQDN. */
  peerAddress: z.string().min(1).max(255),
  /** The peer router identity: an address, FQDN, e-mail or key id; defaults to peerAddress. */
  peerId: z.string().min(1).max(255).optional(),
  localId: z.string().max(255).optional(),
  mtu: z.number().int().min(68).max(9216).default(1500),
  initiator: z.enum(['bi-directional', 'response-only']).default('bi-directional'),
  dpd: Dpd.default({ action: 'hold', interval: 30, timeout: 120 }),
  adminStateUp: z.boolean().default(true),
  pskSecretRef: SecretKeyRef,
  tenantId: z.string().max(255).optional(),
  ...managedSpecFields,
});
export type IPsecSiteConnectionSpec = z.infer<typeof IPsecSiteConnectionSpec>;

export const IPsecSiteConnectionStatus = z.object({
  ...managedStatusFields,
  vpnServiceId: z.string().optional(),
  ikePolicyId: z.string().optional(),
  ipsecPolicyId: z.string().optional(),
  localEndpointGroupId: z.string().optional(),
  peerEndpointGroupId: z.string().optional(),
  peerAddress: z.string().optional(),
  routeMode: z.string().optional(),
  authMode: z.string().optional(),
  /** The resourceVersion of the PSK Secret last applied (the key itself is never shown). */
  pskSecretVersion: z.string().optional(),
});
export type IPsecSiteConnectionStatus = z.infer<typeof IPsecSiteConnectionStatus>;

export const IPsecSiteConnection = objectSchema(CONN_KIND, IPsecSiteConnectionSpec, IPsecSiteConnectionStatus);
export type IPsecSiteConnection = z.infer<typeof IPsecSiteConnection>;
