namespace Sandbox.Isolation.Container;

/// <summary>One step of bubblewrap's mount setup, in order.</summary>
internal abstract record MountOp
{
    public abstract IEnumerable<string> ToArgs();
}

internal sealed record RoBind(string Source, string Destination) : MountOp
{
    public override IEnumerable<string> ToArgs() => ["--ro-bind", Source, Destination];
}

/// <summary>A writable bind (the entries of an image's overlay).</summary>
internal sealed record Bind(string Source, string Destination) : MountOp
{
    public override IEnumerable<string> ToArgs() => ["--bind", Source, Destination];
}

internal sealed record SymlinkOp(string Target, string Destination) : MountOp
{
    public override IEnumerable<string> ToArgs() => ["--symlink", Target, Destination];
}

internal sealed record TmpfsOp(string Destination, long SizeBytes, string Mode = "1777") : MountOp
{
    public override IEnumerable<string> ToArgs() => ["--perms", Mode, "--size", SizeBytes.ToString(), "--tmpfs", Destination];
}

internal sealed record ProcOp(string Destination) : MountOp
{
    public override IEnumerable<string> ToArgs() => ["--proc", Destination];
}

internal sealed record DevOp(string Destination) : MountOp
{
    public override IEnumerable<string> ToArgs() => ["--dev", Destination];
}

/// <summary>A read-only file whose content bwrap reads from a descriptor (generated /etc/passwd and /etc/group, the
/// resolver's resolv.conf). World-readable: bwrap's default for these is 0600 owned by bwrap's uid, which in a
/// long-lived sandbox is the agent's, not the workload's.</summary>
internal sealed record RoBindData(int Fd, string Destination) : MountOp
{
    public override IEnumerable<string> ToArgs() => ["--perms", "0644", "--ro-bind-data", Fd.ToString(), Destination];
}

/// <summary>Makes a mount read-only once everything is in place: the root tmpfs bwrap builds must not take writes.</summary>
internal sealed record RemountRo(string Destination) : MountOp
{
    public override IEnumerable<string> ToArgs() => ["--remount-ro", Destination];
}
