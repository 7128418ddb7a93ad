using Microsoft.Win32.SafeHandles;
using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Native;

/// <summary>Owns one file descriptor; closes it exactly once.</summary>
internal sealed class FileDescriptor : SafeHandleMinusOneIsInvalid
{
    public FileDescriptor(int fd) : base(ownsHandle: true) => SetHandle(fd);

    /// <summary>The number, for a call made now. A closed descriptor's number may already name another object, so
    /// asking for it after Dispose is a bug and throws.</summary>
    public int Fd => IsClosed ? throw new ObjectDisposedException(nameof(FileDescriptor)) : (int)handle;

    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;
}
