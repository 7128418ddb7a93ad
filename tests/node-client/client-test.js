// Drives sandboxd from proto/sandbox/v1/*.proto alone (no generated code): Create (with a request_id, twice), Exec with
// stdin, ReadFile, Delete (then again with allow_missing).
// usage: node client-test.js SOCKET_PATH [--expect-unauthenticated]
// Prints "node-client: ok" and exits 0 on success; prints the failure and exits 1 otherwise.
'use strict';
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const socket = process.argv[2];
const expectUnauthenticated = process.argv.includes('--expect-unauthenticated');
const protoRoot = path.join(__dirname, '..', '..', 'proto');
const definition = protoLoader.loadSync(path.join(protoRoot, 'sandbox', 'v1', 'sandbox.proto'), {
  includeDirs: [protoRoot], keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true,
});
const v1 = grpc.loadPackageDefinition(definition).sandbox.v1;
const client = new v1.Sandboxes('unix://' + socket, grpc.credentials.createInsecure());
const unary = (method, request) => new Promise((resolve, reject) =>
  client[method](request, (err, response) => (err ? reject(err) : resolve(response))));

function exec(sandboxId, argv, stdin) {
  return new Promise((resolve, reject) => {
    const call = client.exec();
    let stdout = '', stderr = '', exit = null, started = null;
    call.on('data', (e) => {
      if (e.started) started = e.started;
      if (e.stdout && e.stdout.length) stdout += Buffer.from(e.stdout).toString();
      if (e.stderr && e.stderr.length) stderr += Buffer.from(e.stderr).toString();
      if (e.exit) exit = e.exit;
    });
    call.on('error', reject);
    call.on('end', () => resolve({ started, stdout, stderr, exit }));
    call.write({ start: { sandboxId, process: { argv, stdin: true } } });
    call.write({ stdin: Buffer.from(stdin) });
    call.write({ closeStdin: {} });
    call.end();
  });
}

function readFile(sandboxId, filePath) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const call = client.readFile({ sandboxId, path: filePath });
    call.on('data', (c) => chunks.push(Buffer.from(c.data)));
    call.on('error', reject);
    call.on('end', () => resolve(Buffer.concat(chunks).toString()));
  });
}

function check(condition, what) {
  if (!condition) throw new Error('check failed: ' + what);
}

async function main() {
  if (expectUnauthenticated) {
    try {
      await unary('listSandboxes', {});
    } catch (err) {
      check(err.code === grpc.status.UNAUTHENTICATED, `UNAUTHENTICATED expected, got ${err.code} ${err.details}`);
      return;
    }
    throw new Error('ListSandboxes succeeded for an unmapped uid');
  }
  // untrusted: false + provenance tenant: the tenant vouches for its own job (silence would mean untrusted: a microVM).
  const requestId = 'node-' + process.pid + '-' + Date.now();
  const create = { labels: { client: 'node' }, untrusted: false, codeProvenance: 'tenant', ttl: { seconds: 600 }, requestId };
  const sandbox = await unary('createSandbox', create);
  check(sandbox.state === 'SANDBOX_STATE_RUNNING', 'state running: ' + sandbox.state);
  check(sandbox.createTime && sandbox.expireTime && sandbox.expireTime.seconds > sandbox.createTime.seconds, 'create_time and expire_time set');
  const again = await unary('createSandbox', create);
  check(again.id === sandbox.id, 'a retry with the same request_id returns the same sandbox');
  try {
    const r = await exec(sandbox.id, ['/bin/sh', '-c', 'cat > /work/from-node; wc -c < /work/from-node'], 'hello from node\n');
    check(r.started && r.started.pid > 0, 'started event with a pid');
    check(r.exit && r.exit.exitCode === 0, 'exit 0: ' + JSON.stringify(r.exit));
    check(r.stdout.trim() === '16', 'byte count echoed: ' + JSON.stringify(r.stdout));
    const content = await readFile(sandbox.id, '/work/from-node');
    check(content === 'hello from node\n', 'file content: ' + JSON.stringify(content));
  } finally {
    await unary('deleteSandbox', { id: sandbox.id });
  }
  try {
    await unary('getSandbox', { id: sandbox.id });
    throw new Error('sandbox still there after delete');
  } catch (err) {
    check(err.code === grpc.status.NOT_FOUND, 'NOT_FOUND after delete, got ' + err.code);
  }
  await unary('deleteSandbox', { id: sandbox.id, allowMissing: true });
}

main().then(() => { console.log('node-client: ok'); client.close(); },
  (err) => { console.error('node-client: FAILED: ' + (err.stack || err)); process.exit(1); });
