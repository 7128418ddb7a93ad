using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

/// <summary>Pseudo-terminals: posix_openpt, unlockpt, ptsname_r, and the window-size ioctl.</summary>
internal static unsafe partial class Libc
{
    /// <summary>TIOCSWINSZ: set a terminal's window size (struct winsize); the kernel sends SIGWINCH on a change.</summary>
    internal const ulong TIOCSWINSZ = 0x5414;

    /// <summary>TIOCSCTTY: make the terminal on this descriptor the caller's controlling terminal (session leader).</summary>
    internal const ulong TIOCSCTTY = 0x540E;

    [StructLayout(LayoutKind.Sequential)]
    internal struct WinSize
    {
        public ushort Rows;
        public ushort Cols;
        public ushort XPixel;
        public ushort YPixel;
    }

    [LibraryImport("libc", EntryPoint = "posix_openpt", SetLastError = true)]
    internal static partial int posix_openpt(int flags);

    [LibraryImport("libc", EntryPoint = "unlockpt", SetLastError = true)]
    internal static partial int unlockpt(int fd);

    /// <returns>0 or an errno value.</returns>
    [LibraryImport("libc", EntryPoint = "ptsname_r")]
    internal static partial int ptsname_r(int fd, byte* buffer, nuint length);
}
