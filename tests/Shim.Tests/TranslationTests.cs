using Google.Protobuf;
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
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("/tmp/ctd/containerd.sock/sbx/t2"u8)), Path.GetFileName(a));
        Assert.Equal("pod1", ShimSocketAddress.GroupId("c1", new Dictionary<string, string> { ["io.kubernetes.cri.sandbox-id"] = "pod1" }));
        Assert.Equal("c1", ShimSocketAddress.GroupId("c1", new Dictionary<string, string>()));
        // The opt-in group wins over the pod, as runc's group label does.
        Assert.Equal("g1", ShimSocketAddress.GroupId("c1", new Dictionary<string, string> { ["io.sandbox.shim-group"] = "g1", ["io.kubernetes.cri.sandbox-id"] = "pod1" }));
    }

    [Fact]
    public void StartOutput_FormByContainerdVersion()
    {
        const string address = "unix:///run/containerd/s/abc";
        var none = new Dictionary<string, string?>();
        var v17 = new Dictionary<string, string?> { ["MAX_SHIM_VERSION"] = "2" };
        // 1.6: the plain address; a runc Options Any on stdin changes nothing.
        var runcOptions = new Google.Protobuf.WellKnownTypes.Any { TypeUrl = "containerd.runc.v1.Options" }.ToByteArray();
        Assert.Equal(address, StartOutput.Format(address, none, runcOptions, "c1", "default"));
        // 1.7 / 2.0-2.2: JSON version 2.
        Assert.Equal($$"""{"version":2,"address":"{{address}}","protocol":"ttrpc"}""", StartOutput.Format(address, v17, [], "c1", "default"));
        // 2.3+: BootstrapParams naming this id and namespace → version 3 (task API v3).
        var bootstrap = new byte[] { 0x0a, 2, (byte)'c', (byte)'1', 0x12, 7 }.Concat("default"u8.ToArray()).Concat(new byte[] { 0x1a, 4 }).Concat("info"u8.ToArray()).ToArray();
        Assert.True(StartOutput.IsBootstrapParams(bootstrap, "c1", "default"));
        Assert.Equal($$"""{"version":3,"address":"{{address}}","protocol":"ttrpc"}""", StartOutput.Format(address, v17, bootstrap, "c1", "default"));
        // The namespace must match too; garbage is not BootstrapParams.
        Assert.False(StartOutput.IsBootstrapParams(bootstrap, "c1", "k8s.io"));
        Assert.False(StartOutput.IsBootstrapParams([0xff, 0xff], "c1", "default"));
    }

    [Fact]
    public void TypeUrls_SpelledOut_MatchTheDescriptors()
    {
        IMessage[] packed =
        [
            new KataShim.Protocol.Events.TaskCreate(), new KataShim.Protocol.Events.TaskStart(), new KataShim.Protocol.Events.TaskDelete(),
            new KataShim.Protocol.Events.TaskExit(), new KataShim.Protocol.Events.TaskOOM(), new KataShim.Protocol.Events.TaskExecAdded(),
            new KataShim.Protocol.Events.TaskExecStarted(), new KataShim.Protocol.Events.TaskPaused(), new KataShim.Protocol.Events.TaskResumed(),
            new KataShim.Protocol.Cgroups.Metrics(),
        ];
        foreach (var message in packed)
            Assert.Equal(message.Descriptor.FullName, KataShim.Events.TypeUrls.Of(message));
        Assert.Equal(KataShim.Events.TypeUrls.Metrics, KataShim.Protocol.Cgroups.Metrics.Descriptor.FullName);
        Assert.Throws<ArgumentException>(() => KataShim.Events.TypeUrls.Of(new KataShim.Protocol.Events.TaskCheckpointed()));
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
             "mounts":[{"destination":"/data","type":"tmpfs","source":"tmpfs","options":["uid=0"]},{"destination":"/proc/x","type":"bind","source":"/srv","options":["rbind","shared"]}],
             "linux":{"namespaces":[{"type":"network","path":"/proc/7/ns/net"}],"seccomp":{"defaultAction":"SCMP_ACT_NOTIFY"},
                      "sysctl":{"net.ipv4.ip_forward":"1"},"resources":{"blockIO":{"weight":10}}}}
            """));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        foreach (var field in new[] { "process.apparmorProfile", "mounts[0]", "/data", "mounts[1]", "'shared'", "engine's own", "linux.namespaces[0]",
                     "/proc/7/ns/net", "linux.seccomp", "linux.sysctl", "linux.resources.blockIO" })
            Assert.Contains(field, e.Message);
    }

    [Fact]
    public void Translate_BindsSeccompAndPodNamespaces_AreTaken()
    {
        var plan = Translate("""
            {"process":{"args":["/bin/true"]},"root":{"path":"/r"},
             "mounts":[{"destination":"/data","type":"bind","source":"/srv/data","options":["rbind","ro","rprivate"]},
                       {"destination":"/etc/hosts","source":"/var/lib/pod/hosts","options":["bind","rw"]}],
             "linux":{"namespaces":[{"type":"ipc","path":"/proc/42/ns/ipc"},{"type":"uts","path":"/proc/42/ns/uts"},{"type":"mount"}],
                      "seccomp":{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
                                 "syscalls":[{"names":["setpriority"],"action":"SCMP_ACT_ERRNO"}]}}}
            """);
        Assert.Equal(new[] { ("/srv/data", "/data", true, true), ("/var/lib/pod/hosts", "/etc/hosts", false, false) },
            plan.Binds.Select(b => (b.Source, b.Destination, b.ReadOnly, b.Recursive)).ToArray());
        var narrowing = Assert.IsType<Sandbox.SyscallFilter.SeccompProfile>(plan.Request.NarrowingSyscallProfile);
        Assert.Contains(narrowing.Rules, r => r.Names.Contains("setpriority"));
    }

    [Fact]
    public void SeccompIntersection_NeverLooserThanEither()
    {
        var ours = Sandbox.SyscallFilter.SeccompProfiles.GetBuiltIn("default");
        // A bundle profile that allows everything and denies setpriority.
        var bundle = Sandbox.SyscallFilter.SeccompProfileLoader.FromOciJson("""
            {"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["setpriority"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}
            """, "bundle");
        var both = Sandbox.SyscallFilter.SeccompIntersection.Intersect(ours, bundle, "both");
        Assert.Equal(ours.DefaultAction, both.DefaultAction);
        // setpriority, allowed by ours, is denied now (by the default: no rule allows it).
        Assert.DoesNotContain(both.Rules, r => r.Names.Contains("setpriority") && r.Action.Kind == Sandbox.SyscallFilter.SeccompActionKind.Allow);
        Assert.Contains(ours.Rules, r => r.Names.Contains("setpriority") && r.Action.Kind == Sandbox.SyscallFilter.SeccompActionKind.Allow);
        // What ours denies by default (no rule names it) stays denied: nothing the bundle allows is added.
        var ptraceAllowed = both.Rules.Any(r => r.Names.Contains("ptrace") && r.Action.Kind == Sandbox.SyscallFilter.SeccompActionKind.Allow);
        Assert.False(ptraceAllowed);
        // It compiles (the validator accepts the product rules).
        Assert.NotEmpty(Sandbox.SyscallFilter.SeccompCompiler.Compile(both).ToBytes());
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

    [Fact]
    public async Task OnDemandPolicy_DecidesAsTheEmbeddedPolicy_CompiledOnceWhilePrewarmed()
    {
        var compiled = 0;
        var policy = new KataShim.Daemon.OnDemandPolicy(() =>
        {
            Interlocked.Increment(ref compiled);
            return EmbeddedPolicyEngine.CreateDefault(new HostCeilings(), Microsoft.Extensions.Logging.Abstractions.NullLogger<EmbeddedPolicyEngine>.Instance);
        });
        var reference = EmbeddedPolicyEngine.CreateDefault(new HostCeilings(), Microsoft.Extensions.Logging.Abstractions.NullLogger<EmbeddedPolicyEngine>.Instance);
        PolicyInput Input(bool trusted) => PolicyInputBuilder.Build(new Principal("containerd", "ns:default"),
            new SandboxRequest { Untrusted = trusted ? false : null, CodeProvenance = trusted ? "tenant" : null, Namespace = "default" },
            new RequestInfo("r1", DateTimeOffset.UnixEpoch),
            [SandboxTier.Container, SandboxTier.MicroVm], Accelerator.Kvm);
        policy.Prewarm();
        foreach (var trusted in new[] { true, false, true })
        {
            var ours = await policy.DecideAsync(Input(trusted), CancellationToken.None);
            var theirs = await reference.DecideAsync(Input(trusted), CancellationToken.None);
            Assert.Equal((theirs.Allow, theirs.Isolation, theirs.Resources), (ours.Allow, ours.Isolation, ours.Resources));
        }
        // The prewarmed compile served the first decision; later ones recompile only if a collection took it.
        Assert.InRange(compiled, 1, 3);
    }

    [Fact]
    public void Translate_CriPodSpec_AcceptedInTheEnginesForm_EachSaid()
    {
        // What CRI writes for an app container of pod "p1" whose pause container this shim reported as pid 42.
        var plan = BundleTranslator.Translate(JsonSerializer.Deserialize("""
            {"process":{"args":["/bin/sleep","1"],"oomScoreAdj":-998},"root":{"path":"/r"},
             "annotations":{"io.kubernetes.cri.sandbox-id":"p1","io.kubernetes.cri.container-type":"container"},
             "mounts":[{"destination":"/dev/shm","type":"bind","source":"/st/io.containerd.grpc.v1.cri/sandboxes/p1/shm","options":["rbind","ro"]},
                       {"destination":"/dev/null","type":"bind","source":"/dev/null","options":["rbind"]},
                       {"destination":"/etc/hosts","type":"bind","source":"/root/io.containerd.grpc.v1.cri/sandboxes/p1/hosts","options":["rbind","ro"]},
                       {"destination":"/etc/other","type":"bind","source":"/srv/other","options":["rbind","ro"]}],
             "linux":{"namespaces":[{"type":"network","path":"/proc/42/ns/net"},{"type":"mount"}]}}
            """, OciJson.Default.OciSpec)!, "/bundle", podSandboxPid: 42);
        Assert.Equal(["/etc/hosts", "/etc/other"], plan.Binds.Select(b => b.Destination));
        Assert.Equal(["/etc/hosts"], plan.PodFiles.Select(b => b.Destination));
        Assert.Contains(plan.Notes, n => n.Contains("oomScoreAdj -998 is not applied"));
        Assert.Contains(plan.Notes, n => n.Contains("own /dev/shm"));
        Assert.Contains(plan.Notes, n => n.Contains("own /dev/null"));
        Assert.Contains(plan.Notes, n => n.Contains("/proc/42/ns/net") && n.Contains("pod's"));
    }

    [Fact]
    public void Translate_HostDevicesAndForeignNetns_RefusedByName()
    {
        var e = Assert.Throws<SandboxException>(() => BundleTranslator.Translate(JsonSerializer.Deserialize("""
            {"process":{"args":["/bin/true"]},"root":{"path":"/r"},
             "annotations":{"io.kubernetes.cri.sandbox-id":"p1"},
             "mounts":[{"destination":"/dev/kmsg","type":"bind","source":"/dev/kmsg"},
                       {"destination":"/dev/null","type":"bind","source":"/dev/sda"},
                       {"destination":"/etc/hosts","type":"bind","source":"/etc/hosts","options":["rbind","ro"]}],
             "linux":{"namespaces":[{"type":"network","path":"/proc/43/ns/net"}]}}
            """, OciJson.Default.OciSpec)!, "/bundle", podSandboxPid: 42));
        foreach (var field in new[] { "/dev/kmsg from the host is not available", "mounts[1] (bind /dev/sda → /dev/null)", "'/proc/43/ns/net' is not supported: a process's namespace" })
            Assert.Contains(field, e.Message);
        // A bind of the host's own /etc/hosts is not CRI's pod file: an ordinary bind (no error about it).
        Assert.DoesNotContain("mounts[2]", e.Message);
    }

    private static ContainerPlan Translate(string json) =>
        BundleTranslator.Translate(JsonSerializer.Deserialize(json, OciJson.Default.OciSpec)!, "/bundle");

    [Fact]
    public void Translate_CniPod_SandboxJoinsItsNetns_AppContainerJoinsThePods()
    {
        // The pause container of a pod with CNI networking: containerd's CRI made the namespace and names its mount.
        var pause = BundleTranslator.Translate(JsonSerializer.Deserialize("""
            {"process":{"args":["/pause"]},"root":{"path":"/r"},
             "annotations":{"io.kubernetes.cri.sandbox-id":"p1","io.kubernetes.cri.container-type":"sandbox"},
             "linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/var/run/netns/cni-0b1c"},{"type":"ipc"}]}}
            """, OciJson.Default.OciSpec)!, "/bundle");
        Assert.Equal("/var/run/netns/cni-0b1c", pause.Request.NetworkNamespace);
        // An app container names the pod's through the pause container's pid: it asks for the same namespace.
        var app = BundleTranslator.Translate(JsonSerializer.Deserialize("""
            {"process":{"args":["/bin/sleep","1"]},"root":{"path":"/r"},
             "annotations":{"io.kubernetes.cri.sandbox-id":"p1","io.kubernetes.cri.container-type":"container"},
             "linux":{"namespaces":[{"type":"network","path":"/proc/42/ns/net"}]}}
            """, OciJson.Default.OciSpec)!, "/bundle", podSandboxPid: 42, podNetworkNamespace: "/var/run/netns/cni-0b1c");
        Assert.Equal("/var/run/netns/cni-0b1c", app.Request.NetworkNamespace);
        Assert.Contains(app.Notes, n => n.Contains("joins the pod's network namespace /var/run/netns/cni-0b1c"));
        // A pod in the node's network (no path for the pause container): the app container gets its own, as before.
        var own = BundleTranslator.Translate(JsonSerializer.Deserialize("""
            {"process":{"args":["/bin/sleep","1"]},"root":{"path":"/r"},
             "annotations":{"io.kubernetes.cri.sandbox-id":"p1"},
             "linux":{"namespaces":[{"type":"network","path":"/proc/42/ns/net"}]}}
            """, OciJson.Default.OciSpec)!, "/bundle", podSandboxPid: 42);
        Assert.Null(own.Request.NetworkNamespace);
    }
}
