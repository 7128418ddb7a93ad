// The SDK against a real sandboxd ($SANDBOX_SOCKET; tests/SandboxApi.Tests/TypeScriptSdkTests.cs starts one and runs
// each test here by name). Every test is skipped, with the reason, when no sandboxd is named.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Client, SandboxError, type ExecOutput } from '../src/index';

const skip = process.env.SANDBOX_SOCKET ? false : 'SANDBOX_SOCKET names no sandboxd to test against';

test('the README example runs code, streams output, uploads a file and reads a result', { skip }, async () => {
  let id: string;
  {
    await using client = new Client();
    await using sb = await client.create({ trusted: true, memoryMib: 256 });
    id = sb.id;
    assert.equal(sb.info.limits?.memoryMib, 256);
    assert.equal(sb.info.tier, 'TIER_CONTAINER');

    await sb.files.write('/work/data.txt', '3\n1\n2\n');                       // upload a file
    const sorted = await sb.run(['sort', '-n', '/work/data.txt']);           // run code
    assert.deepEqual([sorted.exitCode, sorted.stdout], [0, '1\n2\n3\n']);

    const lines: string[] = [];
    for await (const out of sb.exec(['sh', '-c', 'for i in 1 2 3; do echo $i; done; echo ok > /work/out']))
      if (out.type === 'stdout') lines.push(out.data.toString());             // stream output
    assert.equal(lines.join(''), '1\n2\n3\n');
    assert.equal((await sb.files.read('/work/out')).toString(), 'ok\n');      // read a result
    assert.equal((await sb.run(['cat'], { stdin: 'hi' })).stdout, 'hi');
    assert.equal((await sb.run(['id', '-u'], { user: '1234' })).stdout, '1234\n');
  }
  // Leaving the scope deleted the sandbox and closed the client.
  await using client = new Client();
  await assert.rejects(client.get(id), (e: unknown) =>
    e instanceof SandboxError && e.code === grpc.status.NOT_FOUND && e.reason === 'SANDBOX_NOT_FOUND');
});

test('exec streams events in order and takes stdin interactively', { skip }, async () => {
  await using client = new Client();
  await using sb = await client.create({ trusted: true });
  const exec = sb.exec(['sh', '-c', 'while read line; do echo "got $line"; echo "err $line" >&2; done; exit 3'], { stdin: true });
  const events: ExecOutput[] = [];
  let written = false;
  for await (const out of exec) {
    events.push(out);
    if (out.type === 'started' && !written) {
      written = true;
      await exec.write('a\nb\n');
      exec.closeStdin();
    }
  }
  assert.equal(events[0].type, 'started');
  assert.ok(exec.pid !== undefined && exec.pid > 0, `pid ${exec.pid}`);
  const last = events[events.length - 1];
  assert.ok(last.type === 'exit' && last.exit.exitCode === 3 && last.exit.signal === 0, JSON.stringify(last));
  const text = (kind: 'stdout' | 'stderr') =>
    Buffer.concat(events.flatMap((e) => (e.type === kind ? [e.data] : []))).toString();
  assert.equal(text('stdout'), 'got a\ngot b\n');
  assert.equal(text('stderr'), 'err a\nerr b\n');
});

test('a signal ends a running process and a broken loop cancels it', { skip }, async () => {
  await using client = new Client();
  await using sb = await client.create({ trusted: true });
  const exec = sb.exec(['sleep', '600']);
  let exitSignal = -1;
  for await (const out of exec) {
    if (out.type === 'started') exec.kill(9);
    if (out.type === 'exit') exitSignal = out.exit.signal;
  }
  assert.equal(exitSignal, 9);
  // Leaving the loop early cancels the call: the iterator ends without an exit event and without throwing.
  const seen: string[] = [];
  for await (const out of sb.exec(['sh', '-c', 'echo first; exec sleep 600'])) {
    seen.push(out.type);
    if (out.type === 'stdout') break;
  }
  assert.deepEqual(seen, ['started', 'stdout']);
});

test('files upload and download keep content and mode; directories list, rename and remove', { skip }, async () => {
  const local = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-sdk-'));
  try {
    await using client = new Client();
    await using sb = await client.create({ trusted: true });
    const script = path.join(local, 'tool.sh');
    const big = Buffer.alloc(3 * (1 << 20) + 17, 'x');                      // more than one 1 MiB message
    fs.writeFileSync(script, '#!/bin/sh\necho tool ran\n', { mode: 0o750 });
    fs.writeFileSync(path.join(local, 'big'), big);

    await sb.files.mkdir('/work/a/b');
    assert.equal(await sb.files.upload(script, '/work/a/b/tool.sh'), 24);
    assert.equal((await sb.files.stat('/work/a/b/tool.sh')).mode & 0o777, 0o750);
    assert.equal((await sb.run(['/work/a/b/tool.sh'])).stdout, 'tool ran\n');
    assert.equal(await sb.files.upload(path.join(local, 'big'), '/work/big'), big.length);
    assert.equal(await sb.files.download('/work/big', path.join(local, 'back')), big.length);
    assert.ok(fs.readFileSync(path.join(local, 'back')).equals(big));

    await sb.files.rename('/work/a/b/tool.sh', '/work/a/tool.sh');
    assert.deepEqual((await sb.files.list('/work/a')).map((e) => [e.name, e.kind]),
      [['b', 'KIND_DIRECTORY'], ['tool.sh', 'KIND_FILE']]);
    await sb.files.remove('/work/a', { recursive: true });
    await assert.rejects(sb.files.read('/work/a/tool.sh'), (e: unknown) =>
      e instanceof SandboxError && e.code === grpc.status.NOT_FOUND && e.reason === 'FILE_NOT_FOUND');
    await sb.files.remove('/work/a', { allowMissing: true });
  } finally {
    fs.rmSync(local, { recursive: true, force: true });
  }
});

test('a tty exec gets a terminal of the asked size and follows a resize', { skip }, async () => {
  await using client = new Client();
  await using sb = await client.create({ trusted: true });
  const exec = sb.exec(['sh', '-c', 'stty size; read go; stty size'], { tty: true, stdin: true, windowSize: { rows: 30, cols: 100 } });
  let output = '';
  for await (const out of exec) {
    if (out.type !== 'stdout') continue;
    output += out.data.toString();
    if (output.includes('30 100') && !output.includes('go')) {
      exec.resize(40, 120);
      await exec.write('go\n');
    }
  }
  assert.match(output, /30 100\r\n/);
  assert.match(output, /40 120\r\n/);
});

test('a one-shot run lives as long as its call; errors carry their reasons', { skip }, async () => {
  await using client = new Client();
  const r = await client.run(['sh', '-c', 'echo $GREETING; exit 7'], { trusted: true, env: { GREETING: 'hello' } });
  assert.deepEqual([r.exitCode, r.stdout], [7, 'hello\n']);
  await assert.rejects(client.run(['no-such-program-here'], { trusted: true }), (e: unknown) =>
    e instanceof SandboxError && e.code === grpc.status.NOT_FOUND && e.reason === 'PROGRAM_NOT_FOUND');
  await assert.rejects(client.create({ trusted: true, memoryMib: 4 }), (e: unknown) =>
    e instanceof SandboxError && e.code === grpc.status.INVALID_ARGUMENT && e.reason === 'INVALID_FIELD' && /memory/.test(e.message));
});
