// The generated Sandboxes stub over a channel: the .proto is loaded at run time by @grpc/proto-loader from the copy
// generate.sh puts in the package's proto/ directory; src/gen holds the matching types (proto-loader-gen-types).
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './gen/sandbox';
import type { SandboxesClient } from './gen/sandbox/v1/Sandboxes';

/** Where sandboxd listens when neither the options nor $SANDBOX_SOCKET say otherwise. */
export const DEFAULT_SOCKET = '/run/sandbox/sandboxd.sock';

/** The package's copy of proto/ (build/src/connection.js → proto/). */
export const PROTO_ROOT = path.join(__dirname, '..', '..', 'proto');

export interface ConnectionOptions {
  /** sandboxd's unix socket; default $SANDBOX_SOCKET, else /run/sandbox/sandboxd.sock. The caller is identified by
   * its uid (peer credentials). */
  socket?: string;
  /** A gRPC target instead of the socket ("host:port" for sandboxd's TLS listener); needs `credentials`. */
  target?: string;
  /** Channel credentials for `target` (e.g. grpc.credentials.createSsl(ca) combined with a bearer token). */
  credentials?: grpc.ChannelCredentials;
}

// Same options as generate.sh passes to proto-loader-gen-types, so the objects match the generated types: int64 as
// number (sizes and pids stay far below 2^53), enums by name, defaults filled in, oneofs named.
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_ROOT],
};

let definition: ProtoGrpcType | undefined;

function loadDefinition(): ProtoGrpcType {
  definition ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(path.join('sandbox', 'v1', 'sandbox.proto'), LOADER_OPTIONS)) as unknown as ProtoGrpcType;
  return definition;
}

export function connect(options: ConnectionOptions): SandboxesClient {
  const Sandboxes = loadDefinition().sandbox.v1.Sandboxes;
  if (options.target !== undefined) {
    if (options.credentials === undefined)
      throw new TypeError(`target '${options.target}' needs credentials (sandboxd's TCP listener is TLS with a bearer token)`);
    return new Sandboxes(options.target, options.credentials);
  }
  const socket = options.socket ?? process.env.SANDBOX_SOCKET ?? DEFAULT_SOCKET;
  if (!path.isAbsolute(socket))
    throw new TypeError(`socket '${socket}' must be an absolute path`);
  return new Sandboxes('unix://' + socket, grpc.credentials.createInsecure());
}
