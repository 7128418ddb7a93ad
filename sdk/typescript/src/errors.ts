// sandboxd's errors as one exception type: the gRPC status plus the google.rpc.ErrorInfo reason every error carries
// in its grpc-status-details-bin trailer (branch on `reason`, never on messages), and a policy denial's reasons.
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { PROTO_ROOT } from './connection';

const DETAILS_TRAILER = 'grpc-status-details-bin';

// google.rpc.Status and google.rpc.ErrorInfo as protobufjs types (the two messages only; field numbers from
// googleapis' google/rpc/status.proto and error_details.proto).
const rpc = protobuf.Root.fromJSON({
  nested: {
    google: { nested: {
      rpc: { nested: {
        Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 }, details: { rule: 'repeated', type: 'Any', id: 3 } } },
        Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
        ErrorInfo: { fields: { reason: { type: 'string', id: 1 }, domain: { type: 'string', id: 2 }, metadata: { keyType: 'string', type: 'string', id: 3 } } },
      } },
    } },
  },
} as protobuf.INamespace);
const StatusType = rpc.lookupType('google.rpc.Status');
const ErrorInfoType = rpc.lookupType('google.rpc.ErrorInfo');
let explanationType: protobuf.Type | undefined;

/** A failed call. `code` is the gRPC status (grpc.status.NOT_FOUND…), `reason` the ErrorReason name from
 * proto/sandbox/v1/sandbox.proto ("SANDBOX_NOT_FOUND", "FILE_NOT_FOUND", "POLICY_DENIED"…; "" when the error did not
 * come from sandboxd, e.g. the socket is unreachable). */
export class SandboxError extends Error {
  override readonly name = 'SandboxError';

  constructor(
    message: string,
    readonly code: grpc.status,
    readonly reason: string,
    /** The ErrorInfo's metadata (e.g. decision_id of a policy denial, state of an INVALID_STATE refusal). */
    readonly metadata: Readonly<Record<string, string>>,
    /** Every reason of a policy denial (PERMISSION_DENIED / POLICY_DENIED); empty otherwise. */
    readonly policyReasons: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The status code's name ("NOT_FOUND"). */
  get codeName(): string {
    return grpc.status[this.code] ?? String(this.code);
  }

  /** Wraps a grpc-js error (anything else passes through unchanged). */
  static from(err: unknown): unknown {
    if (err instanceof SandboxError || !isServiceError(err))
      return err;
    let reason = '', metadata: Record<string, string> = {}, policyReasons: string[] = [];
    const raw = err.metadata?.get(DETAILS_TRAILER)[0];
    if (raw instanceof Buffer) {
      try {
        const status = StatusType.toObject(StatusType.decode(raw)) as { details?: { type_url: string; value: Uint8Array }[] };
        for (const any of status.details ?? []) {
          if (any.type_url.endsWith('/google.rpc.ErrorInfo')) {
            const info = ErrorInfoType.toObject(ErrorInfoType.decode(any.value)) as { reason?: string; metadata?: Record<string, string> };
            reason = info.reason ?? '';
            metadata = info.metadata ?? {};
          } else if (any.type_url.endsWith('/sandbox.v1.PolicyExplanation')) {
            explanationType ??= protobuf.loadSync(path.join(PROTO_ROOT, 'sandbox', 'v1', 'sandbox.proto')).lookupType('sandbox.v1.PolicyExplanation');
            policyReasons = (explanationType.toObject(explanationType.decode(any.value)) as { reasons?: string[] }).reasons ?? [];
          }
        }
      } catch (decodeError) {
        // A malformed details trailer leaves reason empty; the status code and message still hold.
        return new SandboxError(err.details || err.message, err.code, '', {}, [], { cause: decodeError });
      }
    }
    return new SandboxError(err.details || err.message, err.code, reason, metadata, policyReasons, { cause: err });
  }
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number' && 'metadata' in err;
}

/** Turns a unary stub call into a promise that rejects with SandboxError. */
export function unary<Req, Res>(
  call: (request: Req, callback: (err: grpc.ServiceError | null, response?: Res) => void) => unknown,
  request: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    call(request, (err, response) => (err ? reject(SandboxError.from(err)) : resolve(response as Res)));
  });
}
