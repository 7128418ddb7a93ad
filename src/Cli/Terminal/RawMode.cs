namespace Sandbox.Cli.Terminal;

/// <summary>Puts the local terminal (stdin) in raw mode for an interactive tty session, so keys (Ctrl-C included) go to
/// the sandbox's pty, whose line discipline turns them into signals; disposing restores the saved settings.</summary>
internal sealed class RawMode : IDisposable
{
    private readonly TerminalNative.Termios _saved;
    private int _restored;

    private RawMode(TerminalNative.Termios saved) => _saved = saved;

    /// <summary>Raw mode on fd 0, or null when stdin is not a terminal (nothing to change).</summary>
    public static RawMode? Enter()
    {
        if (!TerminalNative.IsTerminal(0) || TerminalNative.TcGetAttr(0, out var saved) != 0)
            return null;
        var raw = saved;
        TerminalNative.CfMakeRaw(ref raw);
        return TerminalNative.SetNow(0, raw) ? new RawMode(saved) : null;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _restored, 1) == 0)
            TerminalNative.SetNow(0, _saved);
    }
}
