// The cloud side: clouds.yaml, Keystone auth, the Neutron VPNaaS client, and the error model.
export * from './secret.ts';
export * from './config.ts';
export * from './errors.ts';
export * from './redact.ts';
export * from './http.ts';
export * from './hosts.ts';
export * from './limits.ts';
export * from './auth.ts';
export * from './session.ts';
export * from './vpnservices.ts';
export * from './cloud.ts';
