using System.Net.Sockets;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Container;

/// <summary>bwrap's options (its --args file) on a socket that also holds bwrap back until the host has placed it in
/// the sandbox's cgroup. bwrap reads --args to EOF before it does anything else, and it clones the sandbox, with its
/// cgroup namespace rooted wherever bwrap is at that moment, only after; the EOF comes when <see cref="Open"/> closes
/// this end. So the sandbox's cgroup namespace is rooted at the sandbox's own cgroup on every hierarchy, never at the
/// engine's (which would show the host's cgroup layout and the sandbox's id inside).
/// <para>The options are written whole before bwrap is even spawned, so bwrap never parses a part of them: if this
/// process died before <see cref="Open"/>, bwrap would read the same complete options (the EOF then comes from the
/// close at exit), as a sandbox held on its block fd goes on when its owner dies (see the launcher).</para></summary>
internal sealed class BwrapOptionsGate : IDisposable
{
    private readonly Socket _local;

    /// <summary>The end bwrap reads (<see cref="BwrapFds.Args"/>).</summary>
    public FileDescriptor Remote { get; }

    private BwrapOptionsGate(Socket local, FileDescriptor remote) => (_local, Remote) = (local, remote);

    public static BwrapOptionsGate Create(byte[] options)
    {
        var (local, remote) = UnixSocketPair.Create();
        try
        {
            // Never blocks: what the socket's buffer cannot take at once is an error, not a wait for a reader that
            // does not exist yet.
            local.Blocking = false;
            local.SendBufferSize = Math.Max(local.SendBufferSize, options.Length + 4096);
            var sent = local.Send(options, SocketFlags.None, out var error);
            if (error != SocketError.Success || sent != options.Length)
                throw new SandboxException(SandboxErrorCode.InvalidArgument,
                    $"bwrap's options ({options.Length} bytes: mounts and their paths) do not fit its options socket ({sent} written, {error})");
            return new BwrapOptionsGate(local, remote);
        }
        catch
        {
            local.Dispose();
            remote.Dispose();
            throw;
        }
    }

    /// <summary>Lets bwrap go on: it reads EOF after its options, and clones the sandbox where it is now.</summary>
    public void Open() => _local.Dispose();

    public void Dispose()
    {
        _local.Dispose();
        Remote.Dispose();
    }
}
