using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Sandbox.Api.V1;
using static Sandbox.SandboxApi.Tests.Streams;

namespace Sandbox.SandboxApi.Tests;

/// <summary>Every RPC against a real sandboxd on a unix socket (real policy, bwrap, cgroups, agent).</summary>
[Collection("sandboxd")]
public sealed class ApiTests(SharedServer shared)
{
    private SandboxdServer S => shared.Server;
    private Sandboxes.SandboxesClient C => shared.Server.Client;

    [Fact]
    public async Task Create_Get_List_Delete_RoundTrip()
    {
        var request = new CreateSandboxRequest { Untrusted = false, CodeProvenance = "tenant", Ttl = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(600)), Resources = new Resources { MemoryMib = 256 } };
        request.Labels["suite"] = "api";
        var created = await C.CreateSandboxAsync(request);
        Assert.Equal(SandboxState.Running, created.State);
        Assert.Equal(Tier.Container, created.Tier);
        Assert.Equal("acme", created.Tenant);
        Assert.Equal(256, created.Limits.MemoryMib);
        Assert.NotEmpty(created.PolicyDecisionId);
        Assert.NotEmpty(created.SeccompDigest);
        Assert.NotNull(created.ExpireTime);

        var got = await C.GetSandboxAsync(new GetSandboxRequest { Id = created.Id });
        Assert.Equal(created.Id, got.Id);

        var list = new ListSandboxesRequest();
        list.LabelSelector["suite"] = "api";
        Assert.Contains((await C.ListSandboxesAsync(list)).Sandboxes, s => s.Id == created.Id);
        list.LabelSelector["suite"] = "other";
        Assert.DoesNotContain((await C.ListSandboxesAsync(list)).Sandboxes, s => s.Id == created.Id);

        await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = created.Id });
        var e = await Assert.ThrowsAsync<RpcException>(() => C.GetSandboxAsync(new GetSandboxRequest { Id = created.Id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        e = await Assert.ThrowsAsync<RpcException>(() => C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = created.Id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Empty(S.CgroupLeftovers());
    }

    [Fact]
    public async Task ListSandboxes_Pages()
    {
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var r = Trusted();
            r.Labels["paging"] = "yes";
            ids.Add((await C.CreateSandboxAsync(r)).Id);
        }
        try
        {
            var seen = new List<string>();
            var request = new ListSandboxesRequest { PageSize = 2 };
            request.LabelSelector["paging"] = "yes";
            var page = await C.ListSandboxesAsync(request);
            seen.AddRange(page.Sandboxes.Select(s => s.Id));
            Assert.Equal(2, page.Sandboxes.Count);
            Assert.NotEmpty(page.NextPageToken);
            request.PageToken = page.NextPageToken;
            page = await C.ListSandboxesAsync(request);
            seen.AddRange(page.Sandboxes.Select(s => s.Id));
            Assert.Empty(page.NextPageToken);
            Assert.Equal(ids.Order(), seen.Order());
            var bad = await Assert.ThrowsAsync<RpcException>(() => C.ListSandboxesAsync(new ListSandboxesRequest { PageToken = "garbage!" }).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        }
        finally
        {
            foreach (var id in ids)
                await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = id });
        }
    }

    [Fact]
    public async Task Exec_StreamsStdinAndOutput_AndReportsExit()
    {
        var sb = await C.CreateSandboxAsync(Trusted());
        try
        {
            var r = await ExecAsync(C, sb.Id, Process("/bin/sh", "-c", "tr a-z A-Z; echo oops >&2; exit 3"), stdin: "hello sandbox\n");
            Assert.NotNull(r.Started);
            Assert.True(r.Started!.Pid > 0);
            Assert.Equal("HELLO SANDBOX\n", r.Stdout);
            Assert.Equal("oops\n", r.Stderr);
            Assert.Equal(3, r.Exit!.ExitCode);

            // State persists between execs of one sandbox.
            await ExecAsync(C, sb.Id, Process("/bin/sh", "-c", "echo kept > /work/f"));
            Assert.Equal("kept\n", (await ExecAsync(C, sb.Id, Process("cat", "/work/f"))).Stdout);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
    }

    [Fact]
    public async Task Untrusted_tenant_gets_a_microvm_chosen_by_policy()
    {
        // Tenant "public" is untrusted in the default policy: the decision is the microVM tier, here under TCG.
        var sb = await C.CreateSandboxAsync(new CreateSandboxRequest(), SandboxdServer.As("public"));
        try
        {
            Assert.Equal(Tier.Microvm, sb.Tier);
            Assert.NotEqual(Accelerator.Unspecified, sb.Accelerator);
            var kernel = (await ExecAsync(C, sb.Id, Process("uname", "-r"), options: SandboxdServer.As("public"))).Stdout.Trim();
            Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), kernel);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id }, SandboxdServer.As("public"));
        }
    }

    [Fact]
    public async Task A_request_silent_about_trust_is_untrusted_even_from_a_trusted_tenant()
    {
        var silent = await C.ExplainPolicyAsync(new CreateSandboxRequest());
        Assert.True(silent.Allow);
        Assert.Equal(Tier.Microvm, silent.Tier);
        Assert.Contains(silent.Reasons, r => r.Contains("untrusted workload", StringComparison.Ordinal));
        var vouched = await C.ExplainPolicyAsync(Trusted());
        Assert.Equal(Tier.Container, vouched.Tier);
        // Saying "trusted" is not enough without the tenant's own provenance.
        var fork = await C.ExplainPolicyAsync(new CreateSandboxRequest { Untrusted = false, CodeProvenance = "fork" });
        Assert.Equal(Tier.Microvm, fork.Tier);
    }

    [Fact]
    public async Task A_requested_syscall_profile_is_applied_when_stricter_and_denied_when_looser()
    {
        var request = Trusted();
        request.SyscallProfile = "strict";
        var sb = await C.CreateSandboxAsync(request);
        try
        {
            Assert.Equal("strict", sb.SyscallProfile);
            var plain = await C.ExplainPolicyAsync(Trusted());
            Assert.Equal("default", plain.SyscallProfile);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
        var looser = new CreateSandboxRequest { SyscallProfile = "default" };
        var e = await Assert.ThrowsAsync<RpcException>(() => C.CreateSandboxAsync(looser, SandboxdServer.As("public")).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Contains("less strict", e.Status.Detail, StringComparison.Ordinal);
        var bad = await Assert.ThrowsAsync<RpcException>(() => C.CreateSandboxAsync(new CreateSandboxRequest { SyscallProfile = "../etc" }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Contains("syscall_profile", bad.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pause_and_resume_through_the_api_and_the_event_stream_reports_them_in_order()
    {
        using var watch = C.WatchEvents(new WatchEventsRequest());
        await watch.ResponseHeadersAsync; // subscribed: nothing from here on is missed
        var sb = await C.CreateSandboxAsync(Trusted());
        try
        {
            var paused = await C.PauseSandboxAsync(new PauseSandboxRequest { Id = sb.Id });
            Assert.Equal(SandboxState.Paused, paused.State);
            var e = await Assert.ThrowsAsync<RpcException>(() => ExecAsync(C, sb.Id, Process("true")));
            Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
            Assert.Contains("is paused", e.Status.Detail, StringComparison.Ordinal);
            var resumed = await C.ResumeSandboxAsync(new ResumeSandboxRequest { Id = sb.Id });
            Assert.Equal(SandboxState.Running, resumed.State);
            Assert.Equal("ok\n", (await ExecAsync(C, sb.Id, Process("echo", "ok"))).Stdout);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
        var kinds = new List<LifecycleEvent.Types.Kind>();
        while (await watch.ResponseStream.MoveNext())
        {
            var ev = watch.ResponseStream.Current;
            if (ev.SandboxId != sb.Id)
                continue;
            kinds.Add(ev.Kind);
            if (ev.Kind == LifecycleEvent.Types.Kind.Deleted)
                break;
        }
        Assert.Equal([LifecycleEvent.Types.Kind.Created, LifecycleEvent.Types.Kind.Started, LifecycleEvent.Types.Kind.Paused,
            LifecycleEvent.Types.Kind.Resumed, LifecycleEvent.Types.Kind.Deleted], kinds);
    }

    [Fact]
    public async Task Exec_Signal_KillsProcess()
    {
        var sb = await C.CreateSandboxAsync(Trusted());
        try
        {
            using var call = C.Exec();
            await call.RequestStream.WriteAsync(new ExecRequest { Start = new ExecStart { SandboxId = sb.Id, Process = Process("sleep", "30") } });
            Assert.True(await call.ResponseStream.MoveNext());
            Assert.Equal(ExecEvent.EventOneofCase.Started, call.ResponseStream.Current.EventCase);
            await call.RequestStream.WriteAsync(new ExecRequest { Signal = new Signal { Number = 15 } });
            var r = await CollectAsync(call.ResponseStream);
            Assert.Equal(15, r.Exit!.Signal);
            Assert.Equal(128 + 15, r.Exit.ExitCode);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
    }

    [Fact]
    public async Task Run_OneShot_WithStdin()
    {
        var r = await RunAsync(C, Process("/bin/sh", "-c", "read x; echo got:$x; exit 7"), stdin: "42\n");
        Assert.Equal("got:42\n", r.Stdout);
        Assert.Equal(7, r.Exit!.ExitCode);
        Assert.NotEmpty(r.Started!.SandboxId);
        Assert.Equal(Tier.Container, r.Started.Tier);
        Assert.Empty(S.CgroupLeftovers());
    }

    [Fact]
    public async Task Run_ReportsTimeoutAndOutputTruncation()
    {
        var p = Process("sleep", "10");
        p.Timeout = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromMilliseconds(300));
        var r = await RunAsync(C, p);
        Assert.True(r.Exit!.TimedOut);
        var big = await RunAsync(C, Process("/bin/sh", "-c", "head -c 100000 /dev/zero"),
            sandbox: new CreateSandboxRequest { Untrusted = false, CodeProvenance = "tenant", Resources = new Resources { OutputBytes = 1000 } });
        Assert.True(big.Exit!.Truncated);
        Assert.Equal(1000, big.Stdout.Length);
    }

    [Fact]
    public async Task Files_WriteReadRoundTrip_AndStayConfined()
    {
        var sb = await C.CreateSandboxAsync(Trusted());
        try
        {
            var content = new byte[3 << 20];
            new Random(1).NextBytes(content);
            using (var write = C.WriteFile())
            {
                await write.RequestStream.WriteAsync(new WriteFileRequest { Header = new WriteFileHeader { SandboxId = sb.Id, Path = "/work/blob", Mode = 0x1ed } });
                for (var i = 0; i < content.Length; i += 1 << 20)
                    await write.RequestStream.WriteAsync(new WriteFileRequest { Data = ByteString.CopyFrom(content, i, 1 << 20) });
                await write.RequestStream.CompleteAsync();
                Assert.Equal(content.Length, (await write.ResponseAsync).BytesWritten);
            }
            Assert.Equal(content, await ReadAllAsync(sb.Id, "/work/blob"));
            Assert.Equal("-rwxr-xr-x\n", (await ExecAsync(C, sb.Id, Process("/bin/sh", "-c", "stat -c %A /work/blob"))).Stdout);

            // A symlink pointing out of the sandbox resolves inside it: the host's file is never read.
            var secret = Path.Combine(S.Root, "host-secret");
            await File.WriteAllTextAsync(secret, "secret");
            await ExecAsync(C, sb.Id, Process("ln", "-s", secret, "/work/link"));
            var e = await Assert.ThrowsAsync<RpcException>(() => ReadAllAsync(sb.Id, "/work/link"));
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
            e = await Assert.ThrowsAsync<RpcException>(() => ReadAllAsync(sb.Id, "/../../.." + secret));
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            e = await Assert.ThrowsAsync<RpcException>(() => ReadAllAsync(sb.Id, "/work/missing"));
            Assert.Equal(StatusCode.NotFound, e.StatusCode);

            // ListFiles: sorted by name, the symlink listed as a symlink (not followed to the host's file).
            await ExecAsync(C, sb.Id, Process("mkdir", "/work/dir"));
            var list = await C.ListFilesAsync(new ListFilesRequest { SandboxId = sb.Id, Path = "/work" });
            Assert.False(list.Truncated);
            var names = list.Entries.Select(f => f.Name).ToList();
            Assert.Equal(names.Order(StringComparer.Ordinal), names);
            var byName = list.Entries.ToDictionary(f => f.Name);
            Assert.Equal(FileEntry.Types.Kind.File, byName["blob"].Kind);
            Assert.Equal(content.Length, byName["blob"].Size);
            Assert.Equal(0x1edu, byName["blob"].Mode);
            Assert.Equal(FileEntry.Types.Kind.Directory, byName["dir"].Kind);
            Assert.Equal(FileEntry.Types.Kind.Symlink, byName["link"].Kind);
            Assert.Equal(secret.Length, byName["link"].Size);
            e = await Assert.ThrowsAsync<RpcException>(() => C.ListFilesAsync(new ListFilesRequest { SandboxId = sb.Id, Path = "/work/missing" }).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
            e = await Assert.ThrowsAsync<RpcException>(() => C.ListFilesAsync(new ListFilesRequest { SandboxId = sb.Id, Path = "work" }).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            // Another tenant does not see the sandbox at all.
            e = await Assert.ThrowsAsync<RpcException>(() =>
                C.ListFilesAsync(new ListFilesRequest { SandboxId = sb.Id, Path = "/work" }, SandboxdServer.As("ci")).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
    }

    private async Task<byte[]> ReadAllAsync(string id, string path)
    {
        using var call = C.ReadFile(new ReadFileRequest { SandboxId = id, Path = path });
        var buffer = new MemoryStream();
        while (await call.ResponseStream.MoveNext())
            call.ResponseStream.Current.Data.WriteTo(buffer);
        return buffer.ToArray();
    }

    [Fact]
    public async Task BadRequests_MapToGrpcCodes()
    {
        async Task<StatusCode> Code(Func<Task> call) => (await Assert.ThrowsAsync<RpcException>(call)).StatusCode;

        Assert.Equal(StatusCode.InvalidArgument, await Code(() => C.GetSandboxAsync(new GetSandboxRequest { Id = "../etc" }).ResponseAsync));
        Assert.Equal(StatusCode.NotFound, await Code(() => C.GetSandboxAsync(new GetSandboxRequest { Id = "sb-doesnotexist" }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await Code(() => C.CreateSandboxAsync(new CreateSandboxRequest { Untrusted = false, CodeProvenance = "tenant", Rootfs = "relative/dir" }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await Code(() => C.CreateSandboxAsync(new CreateSandboxRequest { Untrusted = false, CodeProvenance = "tenant", Ttl = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(10_000_000)) }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await Code(() => RunAsync(C, Process())));
        var tty = Process("true");
        tty.Tty = true;
        Assert.Equal(StatusCode.Unimplemented, await Code(() => RunAsync(C, tty)));
        Assert.Equal(StatusCode.NotFound, await Code(() => RunAsync(C, Process("no-such-program"))));
        using (var call = C.Exec())
        {
            await call.RequestStream.WriteAsync(new ExecRequest { Stdin = ByteString.CopyFromUtf8("x") });
            await call.RequestStream.CompleteAsync();
            Assert.Equal(StatusCode.InvalidArgument, await Code(() => CollectAsync(call.ResponseStream)));
        }
    }

    [Fact]
    public async Task PolicyDenial_IsPermissionDenied_WithReasonsInTrailers()
    {
        // A tenant the policy's data does not know is denied, whatever the tiers of this host.
        var e = await Assert.ThrowsAsync<RpcException>(() => C.CreateSandboxAsync(new CreateSandboxRequest(), SandboxdServer.As("stranger")).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.NotEmpty(e.Trailers.GetValue("sandbox-policy-decision-id") ?? "");
        Assert.Contains(e.Trailers, t => t.Key == "sandbox-policy-reasons");

        var explain = await C.ExplainPolicyAsync(Trusted(), SandboxdServer.As("stranger"));
        Assert.False(explain.Allow);
        Assert.Contains(explain.Reasons, r => r.Contains("unknown tenant"));
        Assert.NotEmpty(explain.Reasons);
        var allowed = await C.ExplainPolicyAsync(new CreateSandboxRequest { Untrusted = false, CodeProvenance = "tenant", Resources = new Resources { MemoryMib = 300 } });
        Assert.True(allowed.Allow);
        Assert.Equal(Tier.Container, allowed.Tier);
        Assert.Equal(300, allowed.Limits.MemoryMib);
    }

    [Fact]
    public async Task Tenants_SeeOnlyTheirOwnSandboxes()
    {
        var mine = await C.CreateSandboxAsync(Trusted());
        try
        {
            var other = SandboxdServer.As("ci");
            async Task<StatusCode> Code(Func<Task> call) => (await Assert.ThrowsAsync<RpcException>(call)).StatusCode;
            Assert.Equal(StatusCode.NotFound, await Code(() => C.GetSandboxAsync(new GetSandboxRequest { Id = mine.Id }, other).ResponseAsync));
            Assert.Equal(StatusCode.NotFound, await Code(() => C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = mine.Id }, other).ResponseAsync));
            Assert.Equal(StatusCode.NotFound, await Code(() => ExecAsync(C, mine.Id, Process("true"), options: other)));
            Assert.Equal(StatusCode.NotFound, await Code(() => ReadAs(mine.Id, other)));
            Assert.Equal(StatusCode.NotFound, await Code(() => C.ListFilesAsync(new ListFilesRequest { SandboxId = mine.Id, Path = "/" }, other).ResponseAsync));
            Assert.DoesNotContain((await C.ListSandboxesAsync(new ListSandboxesRequest(), other)).Sandboxes, s => s.Id == mine.Id);
            Assert.Equal(StatusCode.Unauthenticated, await Code(() => C.ListSandboxesAsync(new ListSandboxesRequest(), SandboxdServer.As("nobody")).ResponseAsync));
            // Still there for its owner.
            Assert.Equal(mine.Id, (await C.GetSandboxAsync(new GetSandboxRequest { Id = mine.Id })).Id);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = mine.Id });
        }

        async Task ReadAs(string id, CallOptions options)
        {
            using var call = C.ReadFile(new ReadFileRequest { SandboxId = id, Path = "/etc/hostname" }, options);
            await call.ResponseStream.MoveNext();
        }
    }

    [Fact]
    public async Task Quota_MaxSandboxes_IsResourceExhausted()
    {
        var ci = SandboxdServer.As("ci");
        var ids = new List<string>();
        try
        {
            for (var i = 0; i < 3; i++)
                ids.Add((await C.CreateSandboxAsync(Trusted(), ci)).Id);
            var e = await Assert.ThrowsAsync<RpcException>(() => C.CreateSandboxAsync(Trusted(), ci).ResponseAsync);
            Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
            Assert.Contains("max_sandboxes", e.Status.Detail);
            e = await Assert.ThrowsAsync<RpcException>(() => RunAsync(C, Process("true"), options: ci));
            Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        }
        finally
        {
            foreach (var id in ids)
                await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = id }, ci);
        }
        Assert.Equal(0, (await RunAsync(C, Process("true"), options: ci)).Exit!.ExitCode);
    }

    [Fact]
    public async Task Ttl_ExpiredSandboxIsReaped()
    {
        var sb = await C.CreateSandboxAsync(new CreateSandboxRequest { Untrusted = false, CodeProvenance = "tenant", Ttl = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(1)) });
        // Reaping takes the reaper's next round and the sandbox's removal: bounded generously, as the host is shared.
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                await C.GetSandboxAsync(new GetSandboxRequest { Id = sb.Id });
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
                Assert.Empty(S.CgroupLeftovers());
                Assert.Contains("sandboxd_ttl_reaped_total", (await C.GetMetricsAsync(new GetMetricsRequest())).Text);
                return;
            }
            await Task.Delay(100);
        }
        Assert.Fail("the sandbox was not reaped within 60 s of its 1 s TTL");
    }

    [Fact]
    public async Task Deadline_KillsTheRun_AndCancelledExecKillsItsProcess()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            RunAsync(C, Process("sleep", "30"), options: new CallOptions(deadline: DateTime.UtcNow.AddSeconds(1.5))));
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
        await WaitNoLeftoversAsync();

        var sb = await C.CreateSandboxAsync(Trusted());
        try
        {
            using (var cts = new CancellationTokenSource())
            {
                using var call = C.Exec(cancellationToken: cts.Token);
                await call.RequestStream.WriteAsync(new ExecRequest { Start = new ExecStart { SandboxId = sb.Id, Process = Process("sleep", "30") } });
                Assert.True(await call.ResponseStream.MoveNext());
                await cts.CancelAsync();
            }
            // The sleep is gone: only the agent is left in the sandbox.
            var sw = Stopwatch.StartNew();
            string ps;
            do
            {
                await Task.Delay(100);
                ps = (await ExecAsync(C, sb.Id, Process("/bin/sh", "-c", "ls /proc | grep -c '^[0-9]'"))).Stdout.Trim();
            }
            while (ps != "3" && sw.Elapsed < TimeSpan.FromSeconds(60)); // agent, sh, ls... grep: the pipeline itself
            Assert.DoesNotContain("sleep", (await ExecAsync(C, sb.Id, Process("/bin/sh", "-c", "cat /proc/[0-9]*/comm"))).Stdout);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
    }

    private async Task WaitNoLeftoversAsync()
    {
        var sw = Stopwatch.StartNew();
        while (S.CgroupLeftovers().Count > 0 && sw.Elapsed < TimeSpan.FromSeconds(60))
            await Task.Delay(50);
        Assert.Empty(S.CgroupLeftovers());
    }

    [Fact]
    public async Task ClientDisconnectMidStream_LeavesNothingBehind()
    {
        for (var i = 0; i < 5; i++)
        {
            var call = C.Run();
            await call.RequestStream.WriteAsync(new RunRequest { Start = new RunStart { Sandbox = Trusted(), Process = Process("/bin/sh", "-c", "while :; do echo spam; done") } });
            Assert.True(await call.ResponseStream.MoveNext());
            Assert.True(await call.ResponseStream.MoveNext()); // output is flowing
            call.Dispose(); // abandons the call: the server sees a reset stream
        }
        await WaitNoLeftoversAsync();
    }

    [Fact]
    public async Task Metrics_Health_Reflection()
    {
        await RunAsync(C, Process("true"));
        var text = (await C.GetMetricsAsync(new GetMetricsRequest())).Text;
        Assert.Contains("sandboxd_process_seconds_count{kind=\"run\"}", text);
        Assert.Contains("sandboxd_policy_decisions_total{outcome=\"allow\"}", text);
        var health = new Grpc.Health.V1.Health.HealthClient(S.Channel);
        var status = await health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest { Service = "sandbox.v1.Sandboxes" });
        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, status.Status);
    }
}
