// The entry point: a connection to sandboxd that creates sandboxes (or finds existing ones) and runs one-shot
// processes. `await using client = new Client()` closes the channel at the end of the scope.
import { randomUUID } from 'node:crypto';
import { connect, type ConnectionOptions } from './connection';
import { unary } from './errors';
import { Execution, processStart, seconds, type ProcessOptions, type Result } from './execution';
import type { CreateSandboxRequest } from './gen/sandbox/v1/CreateSandboxRequest';
import type { SandboxesClient } from './gen/sandbox/v1/Sandboxes';
import { Sandbox, type SandboxInfo } from './sandbox';
import './dispose';

/** What a sandbox is asked for. The policy decides; what it granted is in Sandbox.info (tier, limits). */
export interface CreateOptions {
  /** The tenant vouches for the code (policy input: untrusted = false, provenance "tenant"). Default: untrusted,
   * which the default policy sends to the microVM tier. */
  trusted?: boolean;
  /** A hint; the policy decides. Default: the policy's choice. */
  tier?: 'container' | 'microvm';
  /** NAME:TAG of an image in sandboxd's store (`sandbox image ls`); exclusive with rootfs. */
  image?: string;
  /** An absolute host directory as the root; default the host's userland, read-only. */
  rootfs?: string;
  memoryMib?: number;
  vcpus?: number;
  pids?: number;
  /** Size of each writable tmpfs (/tmp, the work dir), MiB. */
  diskMib?: number;
  /** Bytes kept of each of stdout and stderr per process (default 16 MiB). */
  outputBytes?: number;
  /** Wall-clock limit per process, seconds. */
  timeoutSeconds?: number;
  /** Time until sandboxd deletes the sandbox by itself, seconds (create only). */
  ttlSeconds?: number;
  env?: Record<string, string>;
  labels?: Record<string, string>;
  /** Absolute; default /work (a fresh tmpfs). */
  workdir?: string;
  network?: { mode: 'none' | 'egress'; egress?: string[]; publish?: string[] };
  /** Seccomp profile wanted ("default", "strict"). */
  syscallProfile?: string;
  /** Idempotency key: a retried create with the same key returns the first sandbox. Default: a fresh UUID. */
  requestId?: string;
}

export class Client implements AsyncDisposable {
  /** The generated stub, for the calls the thin layer does not wrap (UpdateSandbox, WatchEvents, ExplainPolicy…). */
  readonly api: SandboxesClient;

  constructor(options: ConnectionOptions = {}) {
    this.api = connect(options);
  }

  /** Creates a sandbox and returns once it runs. */
  async create(options: CreateOptions = {}): Promise<Sandbox> {
    const request = { ...createRequest(options), requestId: options.requestId ?? randomUUID() };
    return new Sandbox(this.api, await unary(this.api.createSandbox.bind(this.api), request));
  }

  /** An existing sandbox of the caller's tenant (SandboxError NOT_FOUND / SANDBOX_NOT_FOUND otherwise). */
  async get(id: string): Promise<Sandbox> {
    return new Sandbox(this.api, await unary(this.api.getSandbox.bind(this.api), { id }));
  }

  /** The caller's sandboxes (all pages), optionally only those whose labels include every given pair. */
  async list(labels: Record<string, string> = {}): Promise<SandboxInfo[]> {
    const all: SandboxInfo[] = [];
    let pageToken = '';
    do {
      const page = await unary(this.api.listSandboxes.bind(this.api), { labelSelector: labels, pageToken });
      all.push(...page.sandboxes);
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    return all;
  }

  /** Starts a process in a fresh sandbox that lives as long as the call (one round trip; no tty). */
  exec(argv: readonly string[], options: CreateOptions & ProcessOptions = {}): Execution {
    if (options.tty)
      throw new TypeError('a one-shot run has no terminal: create a sandbox and exec with tty: true');
    const start = { start: { sandbox: createRequest(options), process: processStart(argv, options) } };
    return new Execution(this.api.run(), start, false, options);
  }

  /** Runs a process in a fresh sandbox to its end and collects its output; the sandbox is gone afterwards. */
  run(argv: readonly string[], options: CreateOptions & ProcessOptions = {}): Promise<Result> {
    return this.exec(argv, options).wait();
  }

  close(): void {
    this.api.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

function createRequest(o: CreateOptions): CreateSandboxRequest {
  return {
    tier: o.tier === 'container' ? 'TIER_CONTAINER' : o.tier === 'microvm' ? 'TIER_MICROVM' : 'TIER_UNSPECIFIED',
    image: o.image ?? '',
    rootfs: o.rootfs ?? '',
    resources: {
      memoryMib: o.memoryMib ?? 0, vcpus: o.vcpus ?? 0, pids: o.pids ?? 0, diskMib: o.diskMib ?? 0,
      outputBytes: o.outputBytes ?? 0, timeout: o.timeoutSeconds === undefined ? null : seconds(o.timeoutSeconds),
    },
    network: o.network === undefined ? null : {
      mode: o.network.mode === 'egress' ? 'NETWORK_MODE_EGRESS' : 'NETWORK_MODE_NONE',
      egress: o.network.egress ?? [], publish: o.network.publish ?? [],
    },
    env: o.env ?? {},
    labels: o.labels ?? {},
    workdir: o.workdir ?? '',
    ...(o.trusted ? { untrusted: false, codeProvenance: 'tenant' } : {}),
    syscallProfile: o.syscallProfile ?? '',
    ttl: o.ttlSeconds === undefined ? null : seconds(o.ttlSeconds),
  };
}
