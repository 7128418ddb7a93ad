using System.Text;

namespace Sandbox.Cli.Terminal;

/// <summary>The process's standard streams as plain file streams over fds 0, 1 and 2. System.Console's streams
/// initialise the terminal on first use (they write keypad-mode escape sequences to a tty), which a program whose
/// output is the workload's must never do; these write exactly the bytes given.</summary>
internal static class StdStreams
{
    private static readonly Lazy<Stream> s_out = new(() => Open(1, FileAccess.Write));
    private static readonly Lazy<Stream> s_err = new(() => Open(2, FileAccess.Write));
    private static readonly Lazy<TextWriter> s_errText = new(() => new StreamWriter(s_err.Value, new UTF8Encoding(false)) { AutoFlush = true });
    private static readonly Lazy<TextWriter> s_outText = new(() => new StreamWriter(s_out.Value, new UTF8Encoding(false)) { AutoFlush = true });

    public static Stream Out => s_out.Value;
    public static Stream Err => s_err.Value;

    /// <summary>Text to stderr (messages of the CLI itself).</summary>
    public static TextWriter ErrText => s_errText.Value;

    /// <summary>Text to stdout (listings, ids, JSON).</summary>
    public static TextWriter OutText => s_outText.Value;

    /// <summary>A new reader of fd 0 (only the command that streams stdin opens it).</summary>
    public static Stream OpenIn() => Open(0, FileAccess.Read);

    private static FdStream Open(int fd, FileAccess access) => new(fd, readable: access == FileAccess.Read);

    /// <summary>Writes a CLI message ("sandbox: ...") to stderr.</summary>
    public static void Error(string message) => ErrText.WriteLine("sandbox: " + message);
}
