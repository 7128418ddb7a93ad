namespace Sandbox.KataShim.Oci;

/// <summary>How a bind mount of the bundle is handled when it is one CRI (containerd's Kubernetes face) adds to a
/// pod's containers: the pod's shared /dev/shm, host device nodes, and the pod's generated /etc files.</summary>
internal enum CriMountHandling
{
    /// <summary>Not one of CRI's: the ordinary bind rules apply.</summary>
    NotCri,

    /// <summary>The engine provides the same thing itself (its own /dev/shm, its own safe device nodes): not mounted.</summary>
    ProvidedByEngine,

    /// <summary>The pod's /etc/hosts, /etc/hostname or /etc/resolv.conf, written by CRI in the pod's own directory.</summary>
    PodFile,

    /// <summary>Refused; the reason is in the error list.</summary>
    Refused,
}

/// <summary>The CRI-specific cases of the bundle's bind mounts. The rules, chosen to be what a Kata or gVisor user
/// expects without giving a sandbox more than the engine's defaults:
/// <list type="bullet">
/// <item>/dev/shm bound from the pod's shm directory: the sandbox's own tmpfs /dev/shm is used instead. Every
/// container has its own IPC namespace under the engine, so a shared /dev/shm would share nothing the pod could use,
/// and sharing host memory between sandboxes is what the IPC isolation is for.</item>
/// <item>/dev/NAME bound from the host's /dev/NAME where NAME is one of the character devices every sandbox already has
/// (null, zero, full, random, urandom, tty): the engine's own node is used. Any other /dev path is refused by name:
/// a sandbox never gets a host device node.</item>
/// <item>/etc/hosts, /etc/hostname, /etc/resolv.conf bound from CRI's directory of this pod
/// (…/io.containerd.grpc.v1.cri/sandboxes/&lt;pod id&gt;/NAME): bound read-only on the container tier; on the microVM
/// tier they are left out (the guest has its own network as the policy decided it, so the host's view of the pod's
/// network would be wrong there, and a VM root takes no binds).</item>
/// </list></summary>
internal static class CriMounts
{
    /// <summary>The device nodes every sandbox's /dev holds (the engine creates them), by name.</summary>
    public static readonly IReadOnlyList<string> SafeDevices = ["null", "zero", "full", "random", "urandom", "tty"];

    private static readonly HashSet<string> PodFileNames = new(StringComparer.Ordinal) { "hosts", "hostname", "resolv.conf" };

    private const string CriPodDirectory = "/io.containerd.grpc.v1.cri/sandboxes/";

    public static CriMountHandling Classify(OciMount m, int index, string? podId, List<string> errors, List<string> notes)
    {
        var options = m.Options ?? [];
        var isBind = m.Type == "bind" || ((m.Type is null or "none") && (options.Contains("bind") || options.Contains("rbind")));
        if (!isBind)
            return CriMountHandling.NotCri;
        var dest = Path.TrimEndingDirectorySeparator(m.Destination);
        var at = $"mounts[{index}] (bind {m.Source} → {m.Destination})";
        if (dest == "/dev/shm")
        {
            notes.Add($"{at}: the sandbox's own /dev/shm is used (its IPC namespace is its own, nothing of the pod's is shared)");
            return CriMountHandling.ProvidedByEngine;
        }
        if (dest.StartsWith("/dev/", StringComparison.Ordinal))
        {
            var name = dest["/dev/".Length..];
            if (SafeDevices.Contains(name) && m.Source == "/dev/" + name)
            {
                notes.Add($"{at}: the sandbox's own /dev/{name} is used");
                return CriMountHandling.ProvidedByEngine;
            }
            errors.Add($"{at}: /dev/{name} from the host is not available in a sandbox (its /dev holds {string.Join(", ", SafeDevices)}, "
                + "pts, shm and mqueue of its own; a bind of one of those devices must name the same host node, e.g. /dev/null → /dev/null)");
            return CriMountHandling.Refused;
        }
        if (podId is { Length: > 0 } && dest.StartsWith("/etc/", StringComparison.Ordinal)
            && PodFileNames.Contains(dest["/etc/".Length..])
            && m.Source is { } source
            && source.EndsWith(CriPodDirectory + podId + "/" + dest["/etc/".Length..], StringComparison.Ordinal))
            return CriMountHandling.PodFile;
        return CriMountHandling.NotCri;
    }
}
