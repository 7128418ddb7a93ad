using Sandbox.Isolation.MicroVm;
using Sandbox.SandboxApi.Configuration;

namespace Sandbox.SandboxApi.Hosting;

/// <summary>sandboxd's YAML configuration → the microVM tier's options.</summary>
public static class MicroVmOptionsMapping
{
    /// <param name="agentDirectory">The agent bundle sandboxd found (container.agent_dir or $SANDBOX_AGENT_DIR); null =
    /// the engine's own search.</param>
    public static MicroVmOptions ToMicroVmOptions(this SandboxdConfig config, string? agentDirectory) => new()
    {
        AgentDirectory = agentDirectory,
        CgroupParent = config.Container.CgroupParent + "-vm",
        // Sockets of VMs that outlive the daemon (re-attach), beside the containers' channels.
        StateDirectory = Path.Combine(config.StateDir, "vm"),
        GuestAddressSpaceRandomization = config.MicroVm.GuestAddressRandomization,
        QemuPath = config.MicroVm.Qemu ?? QemuInstall.DefaultBinary,
        CloneTcgTranslationCacheMiB = config.MicroVm.CloneTranslationCacheMiB,
        TranslationBufferHugePages = config.MicroVm.TranslationBufferHugePages,
    };
}
