"""The Python SDK against a real sandboxd ($SANDBOX_SOCKET); skipped, with the reason, when none is given."""
import asyncio
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
if not os.environ.get("SANDBOX_SOCKET"):
    pytest.skip("SANDBOX_SOCKET names no sandboxd to test against", allow_module_level=True)
import grpc  # noqa: E402
from sandbox_sdk import AsyncClient, Client  # noqa: E402


def test_readme_example_sync():
    with Client() as client, client.create(trusted=True, memory_mib=256) as sb:
        assert sb.info.limits.memory_mib == 256
        sb.write_file("/work/data.txt", "3\n1\n2\n")
        r = sb.run("sort", "-n", "/work/data.txt")
        assert (r.exit_code, r.stdout) == (0, "1\n2\n3\n")
        out = b"".join(d for kind, d in sb.stream("sh", "-c", "for i in 1 2 3; do echo $i; done; echo ok > /work/out") if kind == "stdout")
        assert out == b"1\n2\n3\n"
        assert sb.read_file("/work/out") == b"ok\n"
        assert sb.run("cat", stdin="hi").stdout == "hi"
        sandbox_id = sb.id
    with Client() as client:
        with pytest.raises(grpc.RpcError) as e:
            client.api.GetSandbox(__import__("sandbox_sdk").pb.GetSandboxRequest(id=sandbox_id))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_asyncio():
    async def main():
        async with AsyncClient() as client:
            async with await client.create(trusted=True) as sb:
                await sb.write_file("/work/x", b"abc")
                r = await sb.run("wc", "-c", "/work/x")
                assert r.stdout.startswith("3 ")
                assert await sb.read_file("/work/x") == b"abc"
    asyncio.run(main())
