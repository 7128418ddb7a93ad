using System.Runtime.InteropServices;

namespace Sandbox.Cli.Terminal;

/// <summary>The few libc calls a terminal client needs: isatty, the window size, raw mode (termios).</summary>
internal static partial class TerminalNative
{
    private const ulong TIOCGWINSZ = 0x5413;
    private const int TCSANOW = 0;

    [StructLayout(LayoutKind.Sequential)]
    private struct WinSize
    {
        public ushort Rows, Cols, XPixel, YPixel;
    }

    /// <summary>struct termios on Linux (glibc x86_64/aarch64 layout: 4 flag words, line, 32 cc, 2 speeds).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct Termios
    {
        public uint IFlag, OFlag, CFlag, LFlag;
        public byte Line;
        public fixed byte Cc[32];
        public uint ISpeed, OSpeed;
    }

    [LibraryImport("libc", EntryPoint = "isatty")]
    private static partial int IsAtty(int fd);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlWinSize(int fd, ulong request, out WinSize size);

    [LibraryImport("libc", EntryPoint = "tcgetattr", SetLastError = true)]
    public static partial int TcGetAttr(int fd, out Termios termios);

    [LibraryImport("libc", EntryPoint = "tcsetattr", SetLastError = true)]
    public static partial int TcSetAttr(int fd, int actions, in Termios termios);

    [LibraryImport("libc", EntryPoint = "cfmakeraw")]
    public static partial void CfMakeRaw(ref Termios termios);

    public static bool IsTerminal(int fd) => IsAtty(fd) == 1;

    /// <summary>The terminal's size in cells, or null when <paramref name="fd"/> is not a terminal.</summary>
    public static (int Rows, int Cols)? WindowSize(int fd) =>
        IoctlWinSize(fd, TIOCGWINSZ, out var ws) == 0 && ws.Rows > 0 && ws.Cols > 0 ? (ws.Rows, ws.Cols) : null;

    public static bool SetNow(int fd, in Termios termios) => TcSetAttr(fd, TCSANOW, termios) == 0;
}
