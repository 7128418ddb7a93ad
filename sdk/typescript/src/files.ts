// A sandbox's files: whole files and tar streams in and out (chunked at sandboxd's 1 MiB message limit, with
// back-pressure), and the directory calls. Paths are absolute paths inside the sandbox.
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type * as grpc from '@grpc/grpc-js';
import { SandboxError, unary } from './errors';
import type { FileEntry__Output } from './gen/sandbox/v1/FileEntry';
import type { ReadFileChunk__Output } from './gen/sandbox/v1/ReadFileChunk';
import type { SandboxesClient } from './gen/sandbox/v1/Sandboxes';
import type { WriteArchiveRequest } from './gen/sandbox/v1/WriteArchiveRequest';
import type { WriteArchiveResponse__Output } from './gen/sandbox/v1/WriteArchiveResponse';
import type { WriteFileRequest } from './gen/sandbox/v1/WriteFileRequest';
import type { WriteFileResponse__Output } from './gen/sandbox/v1/WriteFileResponse';

/** Largest data message sandboxd accepts (1 MiB). */
const CHUNK = 1 << 20;

/** What can be written: text (UTF-8), bytes, or a stream of bytes (a Node Readable, an async generator). */
export type Source = string | Uint8Array | AsyncIterable<Uint8Array | string>;

export type FileEntry = FileEntry__Output;

export class Files {
  /** @internal */
  constructor(private readonly api: SandboxesClient, private readonly sandboxId: string) {}

  /** Writes (creates or replaces) a file; `mode` applies when it is created (default 0o644). Returns bytes written. */
  async write(path: string, data: Source, options: { mode?: number } = {}): Promise<number> {
    const response = await upload<WriteFileRequest, WriteFileResponse__Output>(
      (callback) => this.api.writeFile(callback),
      { header: { sandboxId: this.sandboxId, path, mode: options.mode ?? 0 } },
      data);
    return response.bytesWritten;
  }

  /** Reads a whole file. */
  async read(path: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.readStream(path))
      chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  /** Reads a file as it arrives. */
  readStream(path: string): AsyncIterable<Buffer> {
    return download(this.api.readFile({ sandboxId: this.sandboxId, path }));
  }

  /** Copies a local file into the sandbox, keeping its permission bits unless `mode` says otherwise. */
  async upload(localPath: string, path: string, options: { mode?: number } = {}): Promise<number> {
    const mode = options.mode ?? (await fs.promises.stat(localPath)).mode & 0o777;
    return this.write(path, fs.createReadStream(localPath), { mode });
  }

  /** Copies a file of the sandbox to a local path (created or replaced). Returns the bytes copied. */
  async download(path: string, localPath: string): Promise<number> {
    let bytes = 0;
    const counted = async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        bytes += chunk.length;
        yield chunk;
      }
    };
    await pipeline(this.readStream(path), counted, fs.createWriteStream(localPath));
    return bytes;
  }

  /** Unpacks a tar stream into a directory of the sandbox. Returns the size of the stream sent. */
  async writeArchive(directory: string, tar: Source): Promise<number> {
    const response = await upload<WriteArchiveRequest, WriteArchiveResponse__Output>(
      (callback) => this.api.writeArchive(callback),
      { header: { sandboxId: this.sandboxId, path: directory } },
      tar);
    return response.bytesRead;
  }

  /** A directory's tree as a tar stream. */
  readArchive(directory: string): AsyncIterable<Buffer> {
    return download(this.api.readArchive({ sandboxId: this.sandboxId, path: directory }));
  }

  /** Every entry of a directory, sorted by name (all pages). */
  async list(path: string): Promise<FileEntry[]> {
    const entries: FileEntry[] = [];
    let pageToken = '';
    do {
      const page = await unary(this.api.listFiles.bind(this.api), { sandboxId: this.sandboxId, path, pageToken });
      entries.push(...page.entries);
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    return entries;
  }

  stat(path: string): Promise<FileEntry> {
    return unary(this.api.statFile.bind(this.api), { sandboxId: this.sandboxId, path });
  }

  /** Creates a directory and its missing parents. */
  mkdir(path: string): Promise<FileEntry> {
    return unary(this.api.makeDirectory.bind(this.api), { sandboxId: this.sandboxId, path });
  }

  async remove(path: string, options: { recursive?: boolean; allowMissing?: boolean } = {}): Promise<void> {
    await unary(this.api.removeFile.bind(this.api),
      { sandboxId: this.sandboxId, path, recursive: options.recursive ?? false, allowMissing: options.allowMissing ?? false });
  }

  rename(path: string, newPath: string): Promise<FileEntry> {
    return unary(this.api.renameFile.bind(this.api), { sandboxId: this.sandboxId, path, newPath });
  }
}

/** A client-streaming call: the header, then the data in chunks of at most 1 MiB, waiting for the transport to drain
 * when it asks; a failing source cancels the call. */
async function upload<Req extends object, Res>(
  open: (callback: (err: grpc.ServiceError | null, response?: Res) => void) => grpc.ClientWritableStream<Req>,
  header: Req,
  data: Source,
): Promise<Res> {
  let call!: grpc.ClientWritableStream<Req>;
  const response = new Promise<Res>((resolve, reject) => {
    call = open((err, res) => (err ? reject(SandboxError.from(err)) : resolve(res as Res)));
  });
  const send = async (bytes: Uint8Array) => {
    for (let i = 0; i < bytes.length; i += CHUNK) {
      if (!call.write({ data: bytes.subarray(i, i + CHUNK) } as Req))
        await new Promise<void>((resolve) => call.once('drain', resolve));
    }
  };
  call.write(header);
  try {
    if (typeof data === 'string' || data instanceof Uint8Array)
      await send(typeof data === 'string' ? Buffer.from(data) : data);
    else
      for await (const chunk of data)
        await send(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  } catch (err) {
    call.cancel();
    response.catch(() => undefined); // the CANCELLED status is ours; the source's error is the one to report
    throw err;
  }
  call.end();
  return response;
}

async function* download(call: grpc.ClientReadableStream<ReadFileChunk__Output>): AsyncIterable<Buffer> {
  let finished = false;
  try {
    for await (const chunk of call as AsyncIterable<ReadFileChunk__Output>)
      yield chunk.data;
    finished = true;
  } catch (err) {
    finished = true;
    throw SandboxError.from(err);
  } finally {
    if (!finished)
      call.cancel();
  }
}
