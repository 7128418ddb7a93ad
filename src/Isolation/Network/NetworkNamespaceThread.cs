using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Network;

/// <summary>Runs a short piece of work inside a network namespace on a thread of its own: setns acts on the calling
/// thread only, and the thread ends afterwards, so no other work of the process ever runs in that namespace.</summary>
internal static class NetworkNamespaceThread
{
    /// <summary>Joins <paramref name="netnsPath"/>, runs <paramref name="work"/> and returns its result; a failure
    /// (joining included) is a SandboxException that says what was being done.</summary>
    public static T Run<T>(string netnsPath, string what, Func<T> work)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var ns = File.OpenHandle(netnsPath, FileMode.Open, FileAccess.Read);
                if (Libc.Setns((int)ns.DangerousGetHandle(), Libc.CLONE_NEWNET) != 0)
                    throw Errno.Fail($"setns({netnsPath})");
                result = work();
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, 256 * 1024) { IsBackground = true, Name = "netns-work" };
        thread.Start();
        thread.Join();
        return failure is null ? result : throw new SandboxException(SandboxErrorCode.Internal, $"{what} in {netnsPath}: {failure.Message}", failure);
    }
}
