using System.Runtime.InteropServices;
using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation;

/// <summary>Random bytes from the kernel's CSPRNG (getrandom(2)): what the engine's ids need, without
/// RandomNumberGenerator, which on Linux loads OpenSSL (libcrypto's pages and heap, ~0.6 MiB, in every process that
/// names a sandbox: a containerd shim daemon per container).</summary>
internal static class KernelRandom
{
    public static unsafe byte[] GetBytes(int count)
    {
        var bytes = new byte[count];
        fixed (byte* p = bytes)
        {
            for (var done = 0; done < count;)
            {
                var n = Libc.GetRandom(p + done, (nuint)(count - done), 0);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == 4) // EINTR
                        continue;
                    throw new SandboxException(SandboxErrorCode.Internal, $"getrandom failed: errno {errno}");
                }
                done += (int)n;
            }
        }
        return bytes;
    }
}
