using System.Text.Json;
using Sandbox.Core;
using Sandbox.Isolation;
using Sandbox.KataShim.Cli;
using Sandbox.KataShim.Oci;
using Sandbox.Policy;

namespace Sandbox.Shim.Tests;

/// <summary>The shim's pure parts: Go-flag parsing, the socket address, the OCI bundle translation and what reaches
/// the policy. No containerd needed.</summary>
public sealed class TranslationTests
{
    [Fact]
    public void Arguments_GoFlagSyntax_AllForms()
    {
        var args = ShimArguments.Parse(["-namespace", "sbx", "--address=/run/c.sock", "-publish-binary", "/usr/bin/containerd", "-id", "t2", "-debug", "-bundle=/b", "delete"]);
        Assert.Equal(("sbx", "/run/c.sock", "t2", "/b", true, "delete"), (args.Namespace, args.Address, args.Id, args.Bundle, args.Debug, args.Action));
        Assert.Equal("/x.sock", ShimArguments.Parse(["-address", "unix:///x.sock", "start"]).Address);
        Assert.False(ShimArguments.Parse(["-debug=false", "start"]).Debug);
        var e = Assert.Throws<ShimUsageException>(() => ShimArguments.Parse(["-bogus", "start"]));
        Assert.Contains("-bogus", e.Message);
        Assert.Contains("\"stop\"", Assert.Throws<ShimUsageException>(() => ShimArguments.Parse(["-id", "x", "stop"])).Message);
    }

    [Fact]
    public void SocketAddress_IsTheHashOfAddressNamespaceAndGroup_PodsShareOne()
    {
        var a = ShimSocketAddress.For("/tmp/ctd/containerd.sock", "sbx", "t2");
        Assert.StartsWith("/run/containerd/s/", a);
        Assert.Equal(64, Path.GetFileName(a).Length);
        Assert.Equal("pod1", ShimSocketAddress.GroupId("c1", new Dictionary<string, string> { ["io.kubernetes.cri.sandbox-id"] = "pod1" }));
        Assert.Equal("c1", ShimSocketAddress.GroupId("c1", new Dictionary<string, string>()));
    }

    [Fact]
    public void Translate_CtrDefaultSpec_CarriesProcessAndLimits()
    {
        var plan = Translate("""
            {"ociVersion":"1.0.2-dev","process":{"user":{"uid":0,"gid":0},"args":["/bin/sh","-c","echo hi"],"env":["PATH=/bin","A=b=c"],
              "cwd":"/","capabilities":{"bounding":["CAP_CHOWN"]},"rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}],"noNewPrivileges":true},
             "root":{"path":"rootfs"},"hostname":"web-1",
             "mounts":[{"destination":"/proc","type":"proc","source":"proc"},{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid"]},
                       {"destination":"/sys","type":"sysfs","source":"sysfs","options":["ro"]}],
             "linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}],"memory":{"limit":268435456},"cpu":{"shares":1024,"quota":50000,"period":100000},"pids":{"limit":64}},
                      "cgroupsPath":"/sbx/c1","namespaces":[{"type":"pid"},{"type":"network"},{"type":"mount"}],
                      "maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"]},
             "annotations":{"io.sandbox.tier":"microvm"}}
            """);
        Assert.Equal(["/bin/sh", "-c", "echo hi"], plan.Init.Argv);
        Assert.Equal("b=c", plan.Init.Env["A"]);
        Assert.Equal("/", plan.Init.WorkingDirectory);
        Assert.Null(plan.Init.Tty);
        Assert.Equal("/bundle/rootfs", plan.RootfsPath);
        Assert.Equal("web-1", plan.Request.Hostname);
        Assert.Equal(SandboxTier.MicroVm, plan.Request.Tier);
        Assert.Equal((256L, 0.5, 64), (plan.Request.Resources.MemoryMiB!.Value, plan.Request.Resources.Vcpus!.Value, plan.Request.Resources.Pids!.Value));
    }

    [Fact]
    public void Translate_UnsupportedFields_OneErrorNamingEach()
    {
        var e = Assert.Throws<SandboxException>(() => Translate("""
            {"process":{"args":["/bin/true"],"apparmorProfile":"x"},"root":{"path":"/r"},
             "mounts":[{"destination":"/data","type":"bind","source":"/srv","options":["rbind"]}],
             "linux":{"namespaces":[{"type":"network","path":"/var/run/netns/cni-1"}],"seccomp":{"defaultAction":"SCMP_ACT_ERRNO"},
                      "sysctl":{"net.ipv4.ip_forward":"1"},"resources":{"blockIO":{"weight":10}}}}
            """));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        foreach (var field in new[] { "process.apparmorProfile", "mounts[0]", "/data", "linux.namespaces[0]", "/var/run/netns/cni-1", "linux.seccomp", "linux.sysctl", "linux.resources.blockIO" })
            Assert.Contains(field, e.Message);
    }

    [Fact]
    public void Read_UnknownMember_IsRefusedNamingIt()
    {
        var dir = Directory.CreateTempSubdirectory("shim-bundle-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "config.json"), """{"process":{"args":["/bin/true"],"futureField":1},"root":{"path":"/r"}}""");
            var e = Assert.Throws<SandboxException>(() => BundleTranslator.Read(dir.FullName));
            Assert.Contains("futureField", e.Message);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void TierHint_Invalid_IsAnErrorNamingTheAnnotation()
    {
        var e = Assert.Throws<SandboxException>(() => BundleTranslator.TierHint(new Dictionary<string, string> { ["io.sandbox.tier"] = "gvisor" }));
        Assert.Contains("io.sandbox.tier='gvisor'", e.Message);
    }

    [Fact]
    public void PolicyInput_CarriesAnnotationsLabelsAndNamespace()
    {
        var request = new SandboxRequest
        {
            Annotations = new Dictionary<string, string> { ["io.sandbox.tier"] = "microvm" },
            Labels = new Dictionary<string, string> { ["app"] = "web" },
            Namespace = "k8s.io",
            Image = "docker.io/library/busybox:latest",
        };
        var input = PolicyInputBuilder.Build(new Principal("containerd", "ns:k8s.io"), request, new RequestInfo("r1", DateTimeOffset.UnixEpoch),
            [SandboxTier.Container], Accelerator.Tcg).ToJson();
        Assert.Equal("microvm", (string?)input["workload"]!["annotations"]!["io.sandbox.tier"]);
        Assert.Equal("web", (string?)input["workload"]!["labels"]!["app"]);
        Assert.Equal("k8s.io", (string?)input["workload"]!["namespace"]);
        Assert.Equal("docker.io/library/busybox:latest", (string?)input["workload"]!["image"]);
        // Faces that give none of these keep the input they had.
        var plain = PolicyInputBuilder.Build(new Principal("acme", "u"), new SandboxRequest(), new RequestInfo("r2", DateTimeOffset.UnixEpoch),
            [SandboxTier.Container], Accelerator.Tcg).ToJson();
        Assert.Null(plain["workload"]!["annotations"]);
        Assert.Null(plain["workload"]!["namespace"]);
    }

    private static ContainerPlan Translate(string json) =>
        BundleTranslator.Translate(JsonSerializer.Deserialize(json, OciJson.Default.OciSpec)!, "/bundle");
}
