namespace Sandbox.Isolation;

/// <summary>A live sandbox. <see cref="IAsyncDisposable.DisposeAsync"/> kills everything in it and releases every
/// host resource (processes, cgroup, sockets, temp files); it is idempotent.</summary>
public interface ISandbox : IAsyncDisposable
{
    SandboxInfo Info { get; }

    // ---- Lifecycle beyond create/dispose (the driver seam; see DriverCapabilities) ----

    /// <summary>What a restarted owner needs to take this sandbox back (<see cref="ISandboxDriver.AttachAsync"/>); null
    /// for a sandbox that dies with its owner. Store it as is: its payload is the driver's.</summary>
    SandboxAttachment? Attachment { get; }

    /// <summary>Completes when the sandbox has ended: disposed, or dead on its own (bwrap or QEMU exited, which is
    /// also what the agent's death or a guest panic looks like from the host), with the reason. Never faults.</summary>
    Task<SandboxTermination> Terminated { get; }

    /// <summary>Sends <paramref name="signal"/> to every process of the sandbox (the agent included: SIGKILL ends the
    /// sandbox). Needs <see cref="DriverCapabilities.Signal"/>; else Unimplemented.</summary>
    Task SignalAsync(int signal, CancellationToken cancellationToken);

    /// <summary>The workload's processes: every process of the sandbox but the engine's own (the agent; bwrap), those an
    /// exec left running after it ended included, each by its pid as the sandbox sees it. Drivers that cannot tell
    /// them apart answer Unimplemented.</summary>
    Task<IReadOnlyList<int>> ListWorkloadProcessesAsync(CancellationToken cancellationToken) =>
        throw new SandboxException(SandboxErrorCode.Unimplemented, $"the {Info.Tier} tier cannot list every workload process of a sandbox");

    /// <summary>Sends <paramref name="signal"/> to every process <see cref="ListWorkloadProcessesAsync"/> lists (not
    /// the agent: the sandbox stays up, as a container's processes under runc's `kill --all` leave runc's shim).</summary>
    Task SignalWorkloadAsync(int signal, CancellationToken cancellationToken) =>
        throw new SandboxException(SandboxErrorCode.Unimplemented, $"the {Info.Tier} tier cannot signal every workload process of a sandbox");

    /// <summary>Freezes the whole sandbox (cgroup freezer; QMP stop for a microVM); execs and file calls wait until
    /// <see cref="ResumeAsync"/>. Needs <see cref="DriverCapabilities.Pause"/>.</summary>
    Task PauseAsync(CancellationToken cancellationToken);

    Task ResumeAsync(CancellationToken cancellationToken);

    /// <summary>Changes memory, pids and cpu limits of the running sandbox (later execs also get the new wall-time and
    /// output limits). Needs <see cref="DriverCapabilities.UpdateLimits"/>; else Unimplemented.</summary>
    Task UpdateLimitsAsync(ResourceLimits limits, CancellationToken cancellationToken);

    // ---- Processes and files ----

    /// <summary>Starts a process; its IO is pumped to and from <paramref name="io"/> until it exits.</summary>
    Task<ISandboxProcess> ExecAsync(ProcessSpec spec, ProcessIO io, CancellationToken cancellationToken);

    /// <summary>Reads a whole file (at most <paramref name="maxBytes"/>) by its absolute path inside the sandbox.</summary>
    Task<byte[]> ReadFileAsync(string path, long maxBytes, CancellationToken cancellationToken);

    /// <summary>Creates or replaces a file inside the sandbox. Paths resolve inside the sandbox root only.</summary>
    Task WriteFileAsync(string path, ReadOnlyMemory<byte> content, int mode, CancellationToken cancellationToken);

    /// <summary>The entries of one directory (not recursive), sorted by name, at most <paramref name="maxEntries"/>
    /// (1..10000); symlinks are reported as symlinks, never followed. Paths resolve inside the sandbox root only.</summary>
    Task<SandboxFileListing> ListFilesAsync(string path, int maxEntries, CancellationToken cancellationToken);

    Task<SandboxStats> GetStatsAsync(CancellationToken cancellationToken);

    // Streaming file transfer: one chunk (at most 1 MiB) in host memory at a time, whatever the size; paths resolve
    // inside the sandbox root only, as for the whole-file calls above.

    /// <summary>Copies a file to <paramref name="destination"/>; ResourceExhausted when it is larger than
    /// <paramref name="maxBytes"/>. Returns the bytes copied.</summary>
    Task<long> ReadFileToAsync(string path, Stream destination, long maxBytes, CancellationToken cancellationToken);

    /// <summary>Creates or replaces a file with what <paramref name="source"/> holds up to its end. Returns the bytes written.</summary>
    Task<long> WriteFileFromAsync(string path, Stream source, int mode, CancellationToken cancellationToken);

    /// <summary>Writes a directory's tree as a tar stream (PAX): directories, regular files, symlinks as links.</summary>
    Task ExportDirectoryAsync(string path, Stream tarDestination, CancellationToken cancellationToken);

    /// <summary>Unpacks a tar stream into a directory (created if missing): directories and regular files only, names
    /// relative and without '..'.</summary>
    Task ImportDirectoryAsync(string path, Stream tarSource, CancellationToken cancellationToken);
}

/// <summary>A process running in a sandbox.</summary>
public interface ISandboxProcess
{
    /// <summary>The pid as seen inside the sandbox.</summary>
    int Pid { get; }

    Task SignalAsync(int signal, CancellationToken cancellationToken);

    /// <summary>Sets the window size of the process's terminal (<see cref="ProcessSpec.Tty"/>); the process gets
    /// SIGWINCH. FailedPrecondition when it runs without one.</summary>
    Task ResizeAsync(TerminalSize size, CancellationToken cancellationToken);

    /// <summary>Completes when the process has exited and its output has been delivered.</summary>
    Task<ExitStatus> WaitAsync(CancellationToken cancellationToken);
}

/// <summary>What a sandbox really got, as reported to callers and logs.</summary>
public sealed record SandboxInfo
{
    public required SandboxId Id { get; init; }
    public required SandboxTier Tier { get; init; }
    public Accelerator Accelerator { get; init; }
    public required IReadOnlyList<string> Namespaces { get; init; }
    public required string SyscallProfile { get; init; }
    public required string SeccompDigest { get; init; }
    public required ResourceLimits Limits { get; init; }
    /// <summary>The host uid the sandbox's processes run as (containers: the sandbox user's uid mapped into its range;
    /// never 0).</summary>
    public required int HostUid { get; init; }

    /// <summary>The sandbox's own host id range (uids and gids alike; inside 0..Size-1), where it has one (containers).</summary>
    public Users.UidRange? HostUidRange { get; init; }

    public string? CgroupPath { get; init; }
    /// <summary>Network mode egress: what was granted, one line per destination (host names with the addresses pinned
    /// at create time) and per published port. Empty for mode none.</summary>
    public IReadOnlyList<string> Egress { get; init; } = [];

    /// <summary>A container inside another sandbox (a pod's, <see cref="IPodHost"/>): that sandbox's id; null for a
    /// sandbox of its own.</summary>
    public SandboxId? PodHost { get; init; }
}

/// <param name="Io">Block I/O of the sandbox's cgroup (cgroup v2 io.stat), null where it is not accounted (a v1
/// host, whose sandboxes have no blkio cgroup; a v2 subtree without the io controller). Writes to the sandbox's tmpfs
/// are memory, not I/O.</param>
public sealed record SandboxStats(long MemoryBytes, long MemoryPeakBytes, TimeSpan CpuTime, int Tasks, long OomKills, IoBytes? Io = null);

/// <summary>Bytes read from and written to block devices.</summary>
public sealed record IoBytes(long ReadBytes, long WrittenBytes);

public enum SandboxFileKind
{
    File,
    Directory,
    Symlink,
    Other,
}

/// <summary>One directory entry inside a sandbox. <see cref="Mode"/> holds the permission bits (07777);
/// <see cref="SymlinkTarget"/> is set for symlinks only, as stored (not resolved).</summary>
public sealed record SandboxFileEntry(string Name, SandboxFileKind Kind, long Size, int Mode, DateTimeOffset Modified, string? SymlinkTarget);

/// <summary>A directory listing; <see cref="Truncated"/> when the directory held more entries than were asked for.</summary>
public sealed record SandboxFileListing(IReadOnlyList<SandboxFileEntry> Entries, bool Truncated);
