using Sandbox.Client;
using GetSandboxRequest = Sandbox.Api.V1.GetSandboxRequest;

namespace Sandbox.SandboxApi.Tests;

/// <summary>The .NET SDK (src/Client) against a real sandboxd: the README example, streaming, files, disposal.</summary>
[Collection("sandboxd")]
public sealed class DotnetSdkTests(SharedServer shared)
{
    [Fact]
    public async Task The_README_example_runs_code_streams_output_and_moves_files()
    {
        using var client = SandboxClient.Connect(shared.Server.SocketPath);
        string id;
        await using (var sb = await client.CreateAsync(new SandboxOptions { Trusted = true, MemoryMiB = 256 }))
        {
            id = sb.Id;
            Assert.Equal(256, sb.Info.Limits.MemoryMib);
            await sb.WriteFileAsync("/work/data.txt", "3\n1\n2\n");
            var sorted = await sb.RunAsync("sort", "-n", "/work/data.txt");
            Assert.Equal((0, "1\n2\n3\n"), (sorted.ExitCode, sorted.Stdout));

            var lines = new List<string>();
            int? exit = null;
            await foreach (var o in sb.StreamAsync(["sh", "-c", "for i in 1 2 3; do echo $i; done; echo done > /work/out; exit 4"]))
            {
                if (o is ExecOutput.Stdout s) lines.Add(System.Text.Encoding.UTF8.GetString(s.Data.Span));
                if (o is ExecOutput.Exited x) exit = x.Exit.ExitCode;
            }
            Assert.Equal("1\n2\n3\n", string.Concat(lines));
            Assert.Equal(4, exit);
            Assert.Equal("done\n", System.Text.Encoding.UTF8.GetString(await sb.ReadFileAsync("/work/out")));
            Assert.Equal("hi", (await sb.RunAsync(["cat"], stdin: "hi")).Stdout);
        }
        var gone = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => client.Api.GetSandboxAsync(new GetSandboxRequest { Id = id }).ResponseAsync);
        Assert.Equal(Grpc.Core.StatusCode.NotFound, gone.StatusCode);

        var oneShot = await client.RunAsync(["python3", "-c", "print(6*7)"], new SandboxOptions { Trusted = true }, null);
        Assert.Equal("42\n", oneShot.Stdout);
    }
}
