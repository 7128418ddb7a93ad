using System.ComponentModel;
using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static class Errno
{
    internal const int EINTR = 4, ESRCH = 3, ECHILD = 10, EAGAIN = 11, ENOENT = 2, EBUSY = 16, ELOOP = 40;

    internal static int Last => Marshal.GetLastPInvokeError();

    /// <summary>An exception for the last failed call that names what was being done.</summary>
    internal static SandboxException Fail(string what)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new SandboxException(SandboxErrorCode.Internal, $"{what} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})",
            new Win32Exception(errno));
    }
}
