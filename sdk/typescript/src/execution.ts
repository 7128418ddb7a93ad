// One process's call (Exec in a sandbox, or a one-shot Run): its output as an async iterable, its stdin, signals and
// terminal size as methods, and wait() for the collected result.
import type * as grpc from '@grpc/grpc-js';
import { SandboxError } from './errors';
import type { ExecEvent__Output } from './gen/sandbox/v1/ExecEvent';
import type { ExecRequest } from './gen/sandbox/v1/ExecRequest';
import type { Exit__Output } from './gen/sandbox/v1/Exit';
import type { Limits__Output } from './gen/sandbox/v1/Limits';
import type { ProcessStart } from './gen/sandbox/v1/ProcessStart';
import type { RunRequest } from './gen/sandbox/v1/RunRequest';

/** What a process produces, in order: `started` first, `exit` last. */
export type ExecOutput =
  | { type: 'started'; pid: number; sandboxId: string; tier: string; limits: Limits__Output | null }
  | { type: 'stdout'; data: Buffer }
  | { type: 'stderr'; data: Buffer }
  | { type: 'exit'; exit: Exit__Output };

export interface ProcessOptions {
  /** Added to (and overriding) the sandbox's environment. */
  env?: Record<string, string>;
  /** Absolute working directory; default the sandbox's work dir. */
  cwd?: string;
  /** Data to send as stdin (then closed), or `true` to stream it with write()/closeStdin(); default /dev/null. */
  stdin?: string | Uint8Array | boolean;
  /** A pseudo-terminal as stdin, stdout and stderr (Exec only): output arrives as `stdout`. */
  tty?: boolean;
  /** Initial terminal size with `tty`; default 24x80. */
  windowSize?: { rows: number; cols: number };
  /** Wall-clock limit of this process in seconds (lowered to the sandbox's limit when larger). */
  timeoutSeconds?: number;
  /** Exec only: NAME|UID[:GROUP|GID] inside the sandbox (docker's -u); default the sandbox's unprivileged user. */
  user?: string;
  /** Aborting cancels the call; sandboxd kills the process. */
  signal?: AbortSignal;
}

/** A finished process. `exitCode` is 128 + N when signal N killed it; `exit` is the engine's full account (signal,
 * oomKilled, timedOut, truncated, peakMemoryBytes, cpuTime, duration). */
export interface Result {
  exitCode: number;
  stdout: string;
  stderr: string;
  exit: Exit__Output;
}

type Call = grpc.ClientDuplexStream<ExecRequest, ExecEvent__Output> | grpc.ClientDuplexStream<RunRequest, ExecEvent__Output>;

/** Largest stdin message sandboxd accepts (1 MiB). */
const STDIN_CHUNK = 1 << 20;

export function processStart(argv: readonly string[], options: ProcessOptions): ProcessStart {
  if (argv.length === 0)
    throw new TypeError('argv is empty: name the program to run (e.g. ["sh", "-c", "echo hi"])');
  return {
    argv: [...argv],
    env: options.env ?? {},
    cwd: options.cwd ?? '',
    tty: options.tty ?? false,
    stdin: options.stdin !== undefined && options.stdin !== false,
    timeout: options.timeoutSeconds === undefined ? null : seconds(options.timeoutSeconds),
    windowSize: options.windowSize ?? null,
    user: options.user ?? '',
  };
}

export function seconds(value: number): { seconds: number; nanos: number } {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`duration ${value} s must be a positive number of seconds`);
  const whole = Math.floor(value);
  return { seconds: whole, nanos: Math.round((value - whole) * 1e9) };
}

export class Execution implements AsyncIterable<ExecOutput> {
  #consumed = false;
  #pid: number | undefined;

  /** @internal Built by Sandbox.exec and Client.exec; `start` is the call's first message. */
  constructor(
    private readonly call: Call,
    start: ExecRequest | RunRequest,
    private readonly canResize: boolean,
    options: ProcessOptions,
  ) {
    this.#send(start);
    if (typeof options.stdin === 'string' || options.stdin instanceof Uint8Array) {
      const data = typeof options.stdin === 'string' ? Buffer.from(options.stdin) : options.stdin;
      for (let i = 0; i < data.length; i += STDIN_CHUNK)
        this.#send({ stdin: data.subarray(i, i + STDIN_CHUNK) });
      this.closeStdin();
    }
    if (options.signal !== undefined) {
      const abort = () => call.cancel();
      if (options.signal.aborted)
        abort();
      else
        options.signal.addEventListener('abort', abort, { once: true });
    }
  }

  /** The pid inside the sandbox, once `started` has been read (0 for a one-shot run). */
  get pid(): number | undefined {
    return this.#pid;
  }

  /** Sends stdin (with `stdin: true`); resolves when the transport takes it (back-pressure). */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let i = 0; i < bytes.length; i += STDIN_CHUNK) {
      if (!this.#send({ stdin: bytes.subarray(i, i + STDIN_CHUNK) }))
        await new Promise<void>((resolve) => this.call.once('drain', resolve));
    }
  }

  /** Ends stdin (the process reads EOF); no more requests follow. */
  closeStdin(): void {
    this.#send({ closeStdin: {} });
    this.call.end();
  }

  /** Delivers a Linux signal (1-64) to the process. */
  kill(signal = 15): void {
    if (!Number.isInteger(signal) || signal < 1 || signal > 64)
      throw new RangeError(`signal ${signal} is not a Linux signal number (1-64)`);
    this.#send({ signal: { number: signal } });
  }

  /** Changes the terminal size (a process started with `tty`, in a sandbox). */
  resize(rows: number, cols: number): void {
    if (!this.canResize)
      throw new TypeError('resize needs a process started by Sandbox.exec with tty: true');
    this.#send({ resize: { rows, cols } } as ExecRequest);
  }

  /** The output as it arrives. Read once; leaving the loop early cancels the call (the process is killed). */
  async *[Symbol.asyncIterator](): AsyncIterator<ExecOutput> {
    if (this.#consumed)
      throw new Error('an execution\'s output can be read only once (iterate it or wait() for it, not both)');
    this.#consumed = true;
    let finished = false;
    try {
      for await (const event of this.call as AsyncIterable<ExecEvent__Output>) {
        const output = this.#convert(event);
        if (output !== undefined)
          yield output;
      }
      finished = true;
    } catch (err) {
      finished = true;
      throw SandboxError.from(err);
    } finally {
      if (!finished)
        this.call.cancel();
    }
  }

  /** Collects the whole output (as UTF-8) and the exit status. */
  async wait(): Promise<Result> {
    const stdout: Buffer[] = [], stderr: Buffer[] = [];
    let exit: Exit__Output | undefined;
    for await (const output of this) {
      if (output.type === 'stdout')
        stdout.push(output.data);
      else if (output.type === 'stderr')
        stderr.push(output.data);
      else if (output.type === 'exit')
        exit = output.exit;
    }
    if (exit === undefined)
      throw new Error('sandboxd ended the call without an exit status');
    return { exitCode: exit.exitCode, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString(), exit };
  }

  #send(message: ExecRequest | RunRequest): boolean {
    return (this.call as grpc.ClientDuplexStream<ExecRequest, ExecEvent__Output>).write(message as ExecRequest);
  }

  #convert(event: ExecEvent__Output): ExecOutput | undefined {
    switch (event.event) {
      case 'started': {
        const s = event.started!;
        this.#pid = s.pid;
        return { type: 'started', pid: s.pid, sandboxId: s.sandboxId, tier: s.tier, limits: s.limits };
      }
      case 'stdout':
        return { type: 'stdout', data: event.stdout! };
      case 'stderr':
        return { type: 'stderr', data: event.stderr! };
      case 'exit':
        return { type: 'exit', exit: event.exit! };
      default:
        return undefined;
    }
  }
}
