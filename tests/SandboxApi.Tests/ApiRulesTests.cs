using System.Formats.Tar;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Sandbox.Api.V1;
using ProtoSandbox = Sandbox.Api.V1.Sandbox;
using static Sandbox.SandboxApi.Tests.Streams;

namespace Sandbox.SandboxApi.Tests;

/// <summary>The API's conventions (AIPs) against a real sandboxd: error reasons, idempotent create, allow_missing,
/// UpdateSandbox, running execs, the file calls beyond read/write.</summary>
[Collection("sandboxd")]
public sealed class ApiRulesTests(SharedServer shared)
{
    private Sandboxes.SandboxesClient C => shared.Server.Client;

    private static ErrorInfo Info(RpcException e) =>
        e.GetRpcStatus()?.GetDetail<ErrorInfo>() ?? throw new Xunit.Sdk.XunitException($"no ErrorInfo in {e.Status}");

    private static async Task<RpcException> Fails(Func<Task> call) => await Assert.ThrowsAsync<RpcException>(call);

    [Fact]
    public async Task NotFound_says_whether_the_sandbox_the_file_or_the_program_is_missing()
    {
        var e = await Fails(() => C.GetSandboxAsync(new GetSandboxRequest { Id = "sb-missing" }).ResponseAsync);
        Assert.Equal(("SANDBOX_NOT_FOUND", "sandboxd"), (Info(e).Reason, Info(e).Domain));
        var sb = await C.CreateSandboxAsync(Trusted());
        try
        {
            e = await Fails(() => C.StatFileAsync(new StatFileRequest { SandboxId = sb.Id, Path = "/work/nothing" }).ResponseAsync);
            Assert.Equal((StatusCode.NotFound, "FILE_NOT_FOUND"), (e.StatusCode, Info(e).Reason));
            e = await Fails(() => ExecAsync(C, sb.Id, Process("no-such-program")));
            Assert.Equal((StatusCode.NotFound, "PROGRAM_NOT_FOUND"), (e.StatusCode, Info(e).Reason));
            e = await Fails(() => RunAsync(C, Process("no-such-program")));
            Assert.Equal((StatusCode.NotFound, "PROGRAM_NOT_FOUND"), (e.StatusCode, Info(e).Reason));
            e = await Fails(() => ExecAsync(C, "sb-missing", Process("true")));
            Assert.Equal("SANDBOX_NOT_FOUND", Info(e).Reason);
            // A file that exists but is not executable: a shell's 126, not "not found".
            await ExecAsync(C, sb.Id, Process("/bin/sh", "-c", "echo x > /work/data; chmod 644 /work/data"));
            e = await Fails(() => ExecAsync(C, sb.Id, Process("/work/data")));
            Assert.Equal((StatusCode.FailedPrecondition, "PROGRAM_NOT_EXECUTABLE"), (e.StatusCode, Info(e).Reason));
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
    }

    [Fact]
    public async Task A_policy_denial_carries_its_reasons_in_the_status_details()
    {
        var e = await Fails(() => C.CreateSandboxAsync(new CreateSandboxRequest(), SandboxdServer.As("stranger")).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        var status = e.GetRpcStatus()!;
        Assert.Equal("POLICY_DENIED", status.GetDetail<ErrorInfo>()!.Reason);
        Assert.NotEmpty(status.GetDetail<ErrorInfo>()!.Metadata["decision_id"]);
        var explanation = status.Details.Single(d => d.Is(PolicyExplanation.Descriptor)).Unpack<PolicyExplanation>();
        Assert.False(explanation.Allow);
        Assert.Contains(explanation.Reasons, r => r.Contains("unknown tenant"));
    }

    [Fact]
    public async Task Unauthenticated_callers_get_an_ErrorInfo_too()
    {
        // "nobody" is the test resolver's caller without a tenant.
        var e = await Fails(() => C.GetSandboxAsync(new GetSandboxRequest { Id = "sb-x" }, SandboxdServer.As("nobody")).ResponseAsync);
        Assert.Equal((StatusCode.Unauthenticated, "UNAUTHENTICATED_CALLER"), (e.StatusCode, Info(e).Reason));
    }

    [Fact]
    public async Task Create_with_a_request_id_twice_makes_one_sandbox()
    {
        var request = Trusted();
        request.RequestId = Guid.NewGuid().ToString();
        var first = C.CreateSandboxAsync(request).ResponseAsync;
        var second = C.CreateSandboxAsync(request).ResponseAsync;
        var (a, b) = (await first, await second);
        try
        {
            Assert.Equal(a.Id, b.Id);
            var third = await C.CreateSandboxAsync(request);
            Assert.Equal(a.Id, third.Id);
            var other = Trusted();
            other.RequestId = "bad id!";
            Assert.Equal(StatusCode.InvalidArgument, (await Fails(() => C.CreateSandboxAsync(other).ResponseAsync)).StatusCode);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = a.Id });
        }
        await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = a.Id, AllowMissing = true });
        var e = await Fails(() => C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = a.Id }).ResponseAsync);
        Assert.Equal("SANDBOX_NOT_FOUND", Info(e).Reason);
    }

    [Fact]
    public async Task UpdateSandbox_moves_the_TTL_and_changes_limits_within_the_grant()
    {
        var create = Trusted();
        create.Ttl = Duration.FromTimeSpan(TimeSpan.FromMinutes(5));
        create.Resources = new Resources { MemoryMib = 256 };
        var sb = await C.CreateSandboxAsync(create);
        try
        {
            var before = sb.ExpireTime.ToDateTimeOffset();
            var update = new UpdateSandboxRequest { Sandbox = new ProtoSandbox { Id = sb.Id, Ttl = Duration.FromTimeSpan(TimeSpan.FromMinutes(30)) }, UpdateMask = new FieldMask { Paths = { "ttl" } } };
            var updated = await C.UpdateSandboxAsync(update);
            Assert.True(updated.ExpireTime.ToDateTimeOffset() > before + TimeSpan.FromMinutes(20));

            var limits = new UpdateSandboxRequest { Sandbox = new ProtoSandbox { Id = sb.Id, Limits = new Limits { MemoryMib = 128 } }, UpdateMask = new FieldMask { Paths = { "limits.memory_mib" } } };
            // The container tier changes limits in place (DriverCapabilities.UpdateLimits).
            Assert.Equal(128, (await C.UpdateSandboxAsync(limits)).Limits.MemoryMib);
            limits.Sandbox.Limits.MemoryMib = 100_000;
            var refused = await Fails(() => C.UpdateSandboxAsync(limits).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
            Assert.Contains("granted", refused.Status.Detail);
            var empty = await Fails(() => C.UpdateSandboxAsync(new UpdateSandboxRequest { Sandbox = new ProtoSandbox { Id = sb.Id } }).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
    }

    [Fact]
    public async Task Running_execs_are_listed_and_can_be_signalled_by_pid()
    {
        var sb = await C.CreateSandboxAsync(Trusted());
        try
        {
            using var call = C.Exec();
            await call.RequestStream.WriteAsync(new ExecRequest { Start = new ExecStart { SandboxId = sb.Id, Process = Process("sleep", "60") } });
            Assert.True(await call.ResponseStream.MoveNext());
            var pid = call.ResponseStream.Current.Started.Pid;
            var listed = await C.ListProcessesAsync(new ListProcessesRequest { SandboxId = sb.Id });
            var p = Assert.Single(listed.Processes);
            Assert.Equal((pid, "sleep 60"), (p.Pid, string.Join(' ', p.Argv)));
            await C.SignalProcessAsync(new SignalProcessRequest { SandboxId = sb.Id, Pid = pid, Signal = 15 });
            var r = await CollectAsync(call.ResponseStream);
            Assert.Equal(15, r.Exit!.Signal);
            var e = await Fails(() => C.SignalProcessAsync(new SignalProcessRequest { SandboxId = sb.Id, Pid = pid, Signal = 15 }).ResponseAsync);
            Assert.Equal((StatusCode.NotFound, "PROCESS_NOT_FOUND"), (e.StatusCode, Info(e).Reason));
            Assert.Empty((await C.ListProcessesAsync(new ListProcessesRequest { SandboxId = sb.Id })).Processes);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
    }

    [Fact]
    public async Task Files_stat_mkdir_rename_remove_page_and_travel_as_tar()
    {
        var sb = await C.CreateSandboxAsync(Trusted());
        try
        {
            var dir = await C.MakeDirectoryAsync(new MakeDirectoryRequest { SandboxId = sb.Id, Path = "/work/a/b/c" });
            Assert.Equal(("c", FileEntry.Types.Kind.Directory), (dir.Name, dir.Kind));
            await C.MakeDirectoryAsync(new MakeDirectoryRequest { SandboxId = sb.Id, Path = "/work/a/b/c" }); // exists: fine

            // A tar in: modes kept, parents made.
            using (var write = C.WriteArchive())
            {
                await write.RequestStream.WriteAsync(new WriteArchiveRequest { Header = new WriteArchiveHeader { SandboxId = sb.Id, Path = "/work/in" } });
                await write.RequestStream.WriteAsync(new WriteArchiveRequest { Data = ByteString.CopyFrom(Tar(("run.sh", "#!/bin/sh\necho hi\n", 0x1ed), ("sub/x.txt", "x", 0x1a4))) });
                await write.RequestStream.CompleteAsync();
                await write.ResponseAsync;
            }
            var run = await C.StatFileAsync(new StatFileRequest { SandboxId = sb.Id, Path = "/work/in/run.sh" });
            Assert.Equal((FileEntry.Types.Kind.File, 0x1edu), (run.Kind, run.Mode));
            Assert.Equal("hi\n", (await ExecAsync(C, sb.Id, Process("/work/in/run.sh"))).Stdout);

            var moved = await C.RenameFileAsync(new RenameFileRequest { SandboxId = sb.Id, Path = "/work/in/sub/x.txt", NewPath = "/work/a/x.txt" });
            Assert.Equal("x.txt", moved.Name);

            // The tree out as a tar.
            using var read = C.ReadArchive(new ReadArchiveRequest { SandboxId = sb.Id, Path = "/work/a" });
            var tar = new MemoryStream();
            while (await read.ResponseStream.MoveNext())
                read.ResponseStream.Current.Data.WriteTo(tar);
            tar.Position = 0;
            var names = new List<string>();
            using (var reader = new TarReader(tar))
                while (reader.GetNextEntry() is { } entry)
                    names.Add(entry.Name.TrimEnd('/'));
            Assert.Contains("x.txt", names);
            Assert.Contains("b/c", names);

            var e = await Fails(() => C.RemoveFileAsync(new RemoveFileRequest { SandboxId = sb.Id, Path = "/work/a" }).ResponseAsync);
            Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
            await C.RemoveFileAsync(new RemoveFileRequest { SandboxId = sb.Id, Path = "/work/a", Recursive = true });
            e = await Fails(() => C.StatFileAsync(new StatFileRequest { SandboxId = sb.Id, Path = "/work/a" }).ResponseAsync);
            Assert.Equal("FILE_NOT_FOUND", Info(e).Reason);
            await C.RemoveFileAsync(new RemoveFileRequest { SandboxId = sb.Id, Path = "/work/a", AllowMissing = true });
            e = await Fails(() => C.RemoveFileAsync(new RemoveFileRequest { SandboxId = sb.Id, Path = "/work/a" }).ResponseAsync);
            Assert.Equal("FILE_NOT_FOUND", Info(e).Reason);

            // ListFiles pages.
            await ExecAsync(C, sb.Id, Process("/bin/sh", "-c", "mkdir /work/many && cd /work/many && touch f1 f2 f3 f4 f5"));
            var seen = new List<string>();
            var page = new ListFilesRequest { SandboxId = sb.Id, Path = "/work/many", PageSize = 2 };
            do
            {
                var response = await C.ListFilesAsync(page);
                Assert.True(response.Entries.Count <= 2);
                seen.AddRange(response.Entries.Select(x => x.Name));
                page.PageToken = response.NextPageToken;
            }
            while (page.PageToken.Length > 0);
            Assert.Equal(["f1", "f2", "f3", "f4", "f5"], seen);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
    }

    [Fact]
    public async Task Reflection_serves_the_proto_comments()
    {
        var reflection = new Grpc.Reflection.V1Alpha.ServerReflection.ServerReflectionClient(shared.Server.Channel);
        using var call = reflection.ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new Grpc.Reflection.V1Alpha.ServerReflectionRequest { FileContainingSymbol = "sandbox.v1.Sandboxes" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext());
        var files = call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto
            .Select(b => Google.Protobuf.Reflection.FileDescriptorProto.Parser.ParseFrom(b)).ToList();
        var sandbox = files.Single(f => f.Name == "sandbox/v1/sandbox.proto");
        Assert.NotNull(sandbox.SourceCodeInfo);
        Assert.Contains(sandbox.SourceCodeInfo.Location, l => l.LeadingComments.Contains("Creates a long-lived sandbox") || l.TrailingComments.Contains("memory of the whole sandbox, MiB"));
    }

    private static byte[] Tar(params (string Name, string Content, int Mode)[] files)
    {
        var ms = new MemoryStream();
        using (var writer = new TarWriter(ms, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (name, content, mode) in files)
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)mode, DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)) });
        }
        return ms.ToArray();
    }
}
