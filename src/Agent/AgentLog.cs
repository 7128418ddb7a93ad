using System.Text;
using Sandbox.Agent.Interop;

namespace Sandbox.Agent;

/// <summary>Short lines to stderr (fd 2), written with write(2): no Console, no terminal or signal set-up.</summary>
internal static class AgentLog
{
    private static readonly Lock Gate = new();

    public static bool Quiet { get; set; }

    public static void Info(string message)
    {
        if (!Quiet) WriteFd(2, "sandbox-agent: " + message + "\n");
    }

    public static unsafe void WriteFd(int fd, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        lock (Gate)
        {
            fixed (byte* p = bytes)
            {
                int done = 0;
                while (done < bytes.Length)
                {
                    nint n = Libc.write(fd, p + done, (nuint)(bytes.Length - done));
                    if (n <= 0) return;
                    done += (int)n;
                }
            }
        }
    }
}
