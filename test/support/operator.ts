// Runs the operator as users run it: a separate `node src/main.ts run` process, configured by a kubeconfig and a
// clouds.yaml. Collects its JSON log lines; can be killed (SIGKILL) or stopped (SIGTERM) and started again.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface OperatorOptions {
  kubeconfigPath: string;
  /** clouds.yaml content (written to a temp file and given as OS_CLIENT_CONFIG_FILE). */
  cloudsYaml?: string;
  cloudName?: string;
  args?: string[];
  env?: Record<string, string>;
  /**
   * --tenant-cloud-hosts: the tests' clouds (simulators, the local OpenStack, proxies) are on 127.0.0.1, which the
   * operator's default refuses for tenant Secrets; so the harness allows it as an admin would list their cloud.
   * null: no flag (the operator's default).
   */
  tenantCloudHosts?: string | null;
}

export class OperatorProcess {
  readonly lines: string[] = [];
  private proc: ChildProcess | undefined;
  private exitPromise: Promise<number | null> = Promise.resolve(null);
  private readonly dir: string;
  private readonly opts: OperatorOptions;

  constructor(opts: OperatorOptions) {
    this.opts = opts;
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'vpnaas-op-'));
  }

  start(): this {
    const env: Record<string, string> = { ...(process.env as Record<string, string>), ...this.opts.env };
    delete env.OS_CLOUD;
    if (this.opts.cloudsYaml !== undefined) {
      const file = path.join(this.dir, 'clouds.yaml');
      writeFileSync(file, this.opts.cloudsYaml, { mode: 0o600 });
      env.OS_CLIENT_CONFIG_FILE = file;
    }
    const args = [MAIN, 'run', '--kubeconfig', this.opts.kubeconfigPath, ...(this.opts.cloudName ? ['--cloud', this.opts.cloudName] : []), '--metrics-port', '0', '--metrics-bind-address', '127.0.0.1', ...this.tenantHostsArgs(), ...(this.opts.args ?? [])];
    const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
    this.proc = proc;
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    this.exitPromise = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
    return this;
  }

  private tenantHostsArgs(): string[] {
    const hosts = this.opts.tenantCloudHosts === undefined ? '127.0.0.1' : this.opts.tenantCloudHosts;
    return hosts === null ? [] : ['--tenant-cloud-hosts', hosts];
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Kills the process at once (as a crash would) and waits for it to be gone. */
  async kill(): Promise<void> {
    this.proc?.kill('SIGKILL');
    await this.exitPromise;
  }

  /** Waits for the process to end by itself; returns the exit code. */
  exited(): Promise<number | null> {
    return this.exitPromise;
  }

  /** SIGTERM and wait; returns the exit code. */
  async stop(): Promise<number | null> {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc?.exitCode ?? null;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc?.kill('SIGKILL'), 25_000);
    const code = await this.exitPromise;
    clearTimeout(timer);
    return code;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Parsed JSON log records. */
  records(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const l of this.lines) {
      try {
        out.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // not JSON (should not happen): ignored here, asserted on in the log-format test
      }
    }
    return out;
  }

  /** The port of /metrics, /healthz, /readyz, once the operator has logged it. */
  metricsPort(): number | undefined {
    const r = this.records().find((x) => x.message === 'serving /metrics, /healthz, /readyz');
    return typeof r?.port === 'number' ? r.port : undefined;
  }

  output(): string {
    return this.lines.join('\n');
  }
}

/** Polls `fn` until it returns a truthy value (which is returned) or the timeout passes. */
export async function eventually<T>(fn: () => Promise<T> | T, what: string, timeoutMs = 30_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
