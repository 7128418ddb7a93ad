// sandbox-sdk: a TypeScript client for sandboxd. See README.md for an example.
import './dispose';

export { Client, type CreateOptions } from './client';
export { DEFAULT_SOCKET, type ConnectionOptions } from './connection';
export { SandboxError } from './errors';
export { Execution, type ExecOutput, type ProcessOptions, type Result } from './execution';
export { Files, type FileEntry, type Source } from './files';
export { Sandbox, type SandboxInfo } from './sandbox';
