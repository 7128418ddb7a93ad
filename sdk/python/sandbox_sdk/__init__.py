"""Python SDK for sandboxd: create sandboxes, run code, stream output, move files.

Sync (`Client`) and asyncio (`AsyncClient`) flavours over the stubs generated from proto/ (run generate.sh first).
Closing a sandbox (or leaving its `with` block) deletes it.
"""
import os
import sys
import uuid
from dataclasses import dataclass

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_gen"))
import grpc  # noqa: E402
from sandbox.v1 import sandbox_pb2 as pb  # noqa: E402
from sandbox.v1 import sandbox_pb2_grpc as pb_grpc  # noqa: E402

DEFAULT_SOCKET = "/run/sandbox/sandboxd.sock"
__all__ = ["Client", "AsyncClient", "Sandbox", "AsyncSandbox", "Result", "pb"]


def _target(socket):
    return "unix://" + (socket or os.environ.get("SANDBOX_SOCKET") or DEFAULT_SOCKET)


def _create_request(trusted, memory_mib, env, ttl_s):
    r = pb.CreateSandboxRequest(request_id=uuid.uuid4().hex)
    if trusted:
        r.untrusted = False
        r.code_provenance = "tenant"
    if memory_mib:
        r.resources.memory_mib = memory_mib
    if ttl_s:
        r.ttl.seconds = ttl_s
    for k, v in (env or {}).items():
        r.env[k] = v
    return r


def _exec_requests(sandbox_id, argv, stdin):
    start = pb.ProcessStart(argv=list(argv), stdin=stdin is not None)
    yield pb.ExecRequest(start=pb.ExecStart(sandbox_id=sandbox_id, process=start))
    if stdin is not None:
        yield pb.ExecRequest(stdin=stdin.encode() if isinstance(stdin, str) else stdin)
        yield pb.ExecRequest(close_stdin=pb.StdinClose())


def _write_requests(sandbox_id, path, data, mode):
    yield pb.WriteFileRequest(header=pb.WriteFileHeader(sandbox_id=sandbox_id, path=path, mode=mode))
    data = data.encode() if isinstance(data, str) else data
    for i in range(0, len(data), 1 << 20):
        yield pb.WriteFileRequest(data=data[i:i + (1 << 20)])


@dataclass
class Result:
    """A finished process: exit code (128 + N for signal N), output, and the engine's view (pb.Exit)."""
    exit_code: int
    stdout: str
    stderr: str
    exit: object


class _Collector:
    def __init__(self):
        self.out, self.err, self.exit = bytearray(), bytearray(), None

    def add(self, event):
        kind = event.WhichOneof("event")
        if kind == "stdout":
            self.out += event.stdout
        elif kind == "stderr":
            self.err += event.stderr
        elif kind == "exit":
            self.exit = event.exit

    def result(self):
        if self.exit is None:
            raise RuntimeError("sandboxd ended the call without an exit status")
        return Result(self.exit.exit_code, self.out.decode(), self.err.decode(), self.exit)


class Sandbox:
    """A sandbox in sandboxd (sync). Use as a context manager: leaving it deletes the sandbox."""

    def __init__(self, stub, info):
        self._stub, self.info, self.id = stub, info, info.id

    def run(self, *argv, stdin=None):
        c = _Collector()
        for event in self._stub.Exec(_exec_requests(self.id, argv, stdin)):
            c.add(event)
        return c.result()

    def stream(self, *argv):
        """Yields ("stdout" | "stderr", bytes) as produced, then ("exit", pb.Exit)."""
        for event in self._stub.Exec(_exec_requests(self.id, argv, None)):
            kind = event.WhichOneof("event")
            yield kind, getattr(event, kind)

    def write_file(self, path, data, mode=0o644):
        return self._stub.WriteFile(_write_requests(self.id, path, data, mode)).bytes_written

    def read_file(self, path):
        return b"".join(c.data for c in self._stub.ReadFile(pb.ReadFileRequest(sandbox_id=self.id, path=path)))

    def close(self):
        self._stub.DeleteSandbox(pb.DeleteSandboxRequest(id=self.id, allow_missing=True))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Client:
    """A connection to sandboxd over its unix socket (socket, else $SANDBOX_SOCKET, else the default)."""

    def __init__(self, socket=None):
        self._channel = grpc.insecure_channel(_target(socket))
        self.api = pb_grpc.SandboxesStub(self._channel)

    def create(self, trusted=False, memory_mib=0, env=None, ttl_s=0):
        return Sandbox(self.api, self.api.CreateSandbox(_create_request(trusted, memory_mib, env, ttl_s)))

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncSandbox:
    """A sandbox in sandboxd (asyncio). `async with` deletes it on the way out."""

    def __init__(self, stub, info):
        self._stub, self.info, self.id = stub, info, info.id

    async def run(self, *argv, stdin=None):
        c = _Collector()
        async for event in self._stub.Exec(_exec_requests(self.id, argv, stdin)):
            c.add(event)
        return c.result()

    async def stream(self, *argv):
        async for event in self._stub.Exec(_exec_requests(self.id, argv, None)):
            kind = event.WhichOneof("event")
            yield kind, getattr(event, kind)

    async def write_file(self, path, data, mode=0o644):
        return (await self._stub.WriteFile(_write_requests(self.id, path, data, mode))).bytes_written

    async def read_file(self, path):
        chunks = []
        async for c in self._stub.ReadFile(pb.ReadFileRequest(sandbox_id=self.id, path=path)):
            chunks.append(c.data)
        return b"".join(chunks)

    async def close(self):
        await self._stub.DeleteSandbox(pb.DeleteSandboxRequest(id=self.id, allow_missing=True))

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


class AsyncClient:
    """asyncio flavour of Client (grpc.aio)."""

    def __init__(self, socket=None):
        self._channel = grpc.aio.insecure_channel(_target(socket))
        self.api = pb_grpc.SandboxesStub(self._channel)

    async def create(self, trusted=False, memory_mib=0, env=None, ttl_s=0):
        return AsyncSandbox(self.api, await self.api.CreateSandbox(_create_request(trusted, memory_mib, env, ttl_s)))

    async def close(self):
        await self._channel.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()
