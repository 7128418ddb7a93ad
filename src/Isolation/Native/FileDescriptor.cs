using Microsoft.Win32.SafeHandles;
using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Native;

/// <summary>Owns one file descriptor; closes it exactly once.</summary>
internal sealed class FileDescriptor : SafeHandleMinusOneIsInvalid
{
    public FileDescriptor(int fd) : base(ownsHandle: true) => SetHandle(fd);

    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;
}
