using Grpc.Core;
using Sandbox.Api.V1;
using Sandbox.CiRunner.Tests;
using static Sandbox.SandboxApi.Tests.Streams;

namespace Sandbox.SandboxApi.Tests;

/// <summary>network_of and loopback_names through sandboxd (a pod, as a CI job's service containers use it), and an
/// empty argv running an image's own command: a service sandbox from a busybox httpd image (<see cref="ServiceImage"/>)
/// joins a job sandbox's network and is reached there by name; another tenant's sandbox is not found, and what the
/// mapping cannot accept is refused naming the field.</summary>
[Collection("sandboxd")]
public sealed class NetworkOfTests(SharedServer shared)
{
    private Sandboxes.SandboxesClient C => shared.Server.Client;

    [Fact]
    public async Task A_service_sandbox_joins_the_jobs_network_and_runs_its_images_command_reached_by_its_name()
    {
        var image = await ServiceImage.EnsureAsync();
        var job = Trusted();
        job.LoopbackNames.Add("web");
        var jobSandbox = await C.CreateSandboxAsync(job);
        string? serviceId = null;
        try
        {
            var service = Trusted();
            service.Image = image;
            service.User = "root";
            service.NetworkOf = jobSandbox.Id;
            service.Env["GREETING"] = "hello over the api";
            var serviceSandbox = await C.CreateSandboxAsync(service);
            serviceId = serviceSandbox.Id;
            // An empty argv: the image's Cmd (httpd in the foreground), left running while the job asks it.
            using var server = C.Exec();
            await server.RequestStream.WriteAsync(new ExecRequest { Start = new ExecStart { SandboxId = serviceId, Process = new ProcessStart() } });
            var fetch = await ExecAsync(C, jobSandbox.Id, Process("python3", "-c", """
                import time, urllib.request
                for attempt in range(600):
                    try:
                        print(urllib.request.urlopen("http://web/", timeout=10).read().decode().strip()); break
                    except OSError:
                        time.sleep(0.2)
                """));
            Assert.Equal("hello over the api from the service\n", fetch.Stdout);
            // The job sandbox's own files are not the service's: its root is the image's.
            Assert.Equal(0, (await ExecAsync(C, serviceId, Process("test", "!", "-e", "/usr/bin/python3"))).Exit!.ExitCode);
        }
        finally
        {
            if (serviceId is not null)
                await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = serviceId });
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = jobSandbox.Id });
        }
    }

    [Fact]
    public async Task Another_tenants_sandbox_cannot_be_joined_and_bad_fields_are_named()
    {
        var jobSandbox = await C.CreateSandboxAsync(Trusted());
        try
        {
            var other = Trusted();
            other.NetworkOf = jobSandbox.Id;
            // Another tenant's sandbox answers as a missing one: it cannot be joined, nor learnt to exist.
            var notFound = await Assert.ThrowsAsync<RpcException>(() => C.CreateSandboxAsync(other, SandboxdServer.As("ci")).ResponseAsync);
            Assert.True(notFound.StatusCode == StatusCode.NotFound, notFound.Status.ToString());

            var egress = Trusted();
            egress.NetworkOf = jobSandbox.Id;
            egress.Network = new Network { Mode = NetworkMode.Egress };
            egress.Network.Egress.Add("127.0.0.1:80");
            var both = await Assert.ThrowsAsync<RpcException>(() => C.CreateSandboxAsync(egress).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, both.StatusCode);
            Assert.Contains("network_of and network.mode EGRESS", both.Status.Detail);

            var badId = Trusted();
            badId.NetworkOf = "../etc";
            var malformed = await Assert.ThrowsAsync<RpcException>(() => C.CreateSandboxAsync(badId).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, malformed.StatusCode);
            Assert.Contains("network_of '../etc' is not a sandbox id", malformed.Status.Detail);

            var badName = Trusted();
            badName.LoopbackNames.Add("not a host name");
            var name = await Assert.ThrowsAsync<RpcException>(() => C.CreateSandboxAsync(badName).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, name.StatusCode);

            // An empty argv needs an image whose command would run.
            var noImage = await Assert.ThrowsAsync<RpcException>(() => ExecAsync(C, jobSandbox.Id, new ProcessStart()));
            Assert.Equal(StatusCode.InvalidArgument, noImage.StatusCode);
            Assert.Contains("was not made from an image", noImage.Status.Detail);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = jobSandbox.Id });
        }
        Assert.DoesNotContain((await C.ListSandboxesAsync(new ListSandboxesRequest())).Sandboxes, s => s.Id == jobSandbox.Id);
    }
}
