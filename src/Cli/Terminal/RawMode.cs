namespace Sandbox.Cli.Terminal;

/// <summary>Puts the local terminal (stdin) in raw mode for an interactive tty session, so keys (Ctrl-C included) go to
/// the sandbox's pty, whose line discipline turns them into signals; or, for a tty without -i, only turns off output
/// processing on stdout's terminal (the sandbox's pty already turned "\n" into "\r\n"; doing it again would write
/// "\r\r\n"), keeping Ctrl-C a signal to the CLI, which forwards it. Disposing restores the saved settings.</summary>
internal sealed class RawMode : IDisposable
{
    private const uint OPOST = 0x1;

    private readonly int _fd;
    private readonly TerminalNative.Termios _saved;
    private int _restored;

    private RawMode(int fd, TerminalNative.Termios saved)
    {
        _fd = fd;
        _saved = saved;
    }

    /// <summary>Raw mode on fd 0, or null when stdin is not a terminal (nothing to change).</summary>
    public static RawMode? Enter() => Change(0, static (ref TerminalNative.Termios t) => TerminalNative.CfMakeRaw(ref t));

    /// <summary>No output processing on fd 1 (OPOST off), or null when stdout is not a terminal.</summary>
    public static RawMode? EnterOutput() => Change(1, static (ref TerminalNative.Termios t) => t.OFlag &= ~OPOST);

    private delegate void Adjust(ref TerminalNative.Termios termios);

    private static RawMode? Change(int fd, Adjust adjust)
    {
        if (!TerminalNative.IsTerminal(fd) || TerminalNative.TcGetAttr(fd, out var saved) != 0)
            return null;
        var changed = saved;
        adjust(ref changed);
        return TerminalNative.SetNow(fd, changed) ? new RawMode(fd, saved) : null;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _restored, 1) == 0)
            TerminalNative.SetNow(_fd, _saved);
    }
}
