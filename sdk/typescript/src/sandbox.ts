// A long-lived sandbox in sandboxd: run processes in it, move its files; disposing it (`await using`) deletes it.
import type { ProcessInfo__Output } from './gen/sandbox/v1/ProcessInfo';
import type { Sandbox__Output } from './gen/sandbox/v1/Sandbox';
import type { SandboxesClient } from './gen/sandbox/v1/Sandboxes';
import { unary } from './errors';
import { Execution, processStart, type ProcessOptions, type Result } from './execution';
import { Files } from './files';
import './dispose';

/** sandboxd's view of a sandbox: tier, accelerator, granted limits, state, policy reasons, times. */
export type SandboxInfo = Sandbox__Output;

export class Sandbox implements AsyncDisposable {
  readonly id: string;
  readonly files: Files;
  #info: SandboxInfo;

  /** @internal Built by Client.create and Client.get. */
  constructor(private readonly api: SandboxesClient, info: SandboxInfo) {
    this.id = info.id;
    this.#info = info;
    this.files = new Files(api, info.id);
  }

  /** What sandboxd said the last time it was asked (create, get or refresh). */
  get info(): SandboxInfo {
    return this.#info;
  }

  /** Asks sandboxd again (state, expire time, limits). */
  async refresh(): Promise<SandboxInfo> {
    this.#info = await unary(this.api.getSandbox.bind(this.api), { id: this.id });
    return this.#info;
  }

  /** Starts a process; iterate the result for its output as it arrives, or wait() for all of it. */
  exec(argv: readonly string[], options: ProcessOptions = {}): Execution {
    const start = { start: { sandboxId: this.id, process: processStart(argv, options) } };
    return new Execution(this.api.exec(), start, true, options);
  }

  /** Runs a process to its end and collects its output. */
  run(argv: readonly string[], options: ProcessOptions = {}): Promise<Result> {
    return this.exec(argv, options).wait();
  }

  /** The processes started through exec that are still running, oldest first. */
  async processes(): Promise<ProcessInfo__Output[]> {
    return (await unary(this.api.listProcesses.bind(this.api), { sandboxId: this.id })).processes;
  }

  /** Deletes the sandbox (every process is killed, its files are gone). Deleting twice is fine. */
  async delete(): Promise<void> {
    await unary(this.api.deleteSandbox.bind(this.api), { id: this.id, allowMissing: true });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.delete();
  }
}
