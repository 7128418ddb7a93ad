using Sandbox.Isolation;

namespace Sandbox.KataShim.Io;

/// <summary>The standard streams of one task process, from what containerd's client passed: FIFO paths (ctr, CRI),
/// `file:///abs/path` (both output streams appended to one file), `binary:///abs/path?k=v` (a logging program that
/// reads both, <see cref="BinaryLogger"/>), or empty (no stream: /dev/null). The process's
/// stdin ends when the client closes its end of the FIFO or when CloseIO asks; output FIFOs are closed (the
/// client's EOF) only after the process exited and its output was delivered.</summary>
internal sealed class TaskStdio : IAsyncDisposable
{
    private readonly FifoStream? _stdin;
    private readonly Stream? _stdout;
    private readonly Stream? _stderr;
    private readonly BinaryLogger? _logger;

    private TaskStdio(FifoStream? stdin, Stream? stdout, Stream? stderr, BinaryLogger? logger = null)
    {
        _stdin = stdin;
        _stdout = stdout;
        _stderr = stderr;
        _logger = logger;
    }

    public ProcessIO ProcessIO => new() { Stdin = _stdin, Stdout = _stdout, Stderr = _stderr };

    /// <param name="containerId">For a binary:// logger's CONTAINER_ID.</param>
    /// <param name="ns">For a binary:// logger's CONTAINER_NAMESPACE.</param>
    public static async Task<TaskStdio> OpenAsync(string stdin, string stdout, string stderr, string containerId, string ns)
    {
        if (BinaryLogger.IsBinaryUri(stdout) || BinaryLogger.IsBinaryUri(stderr))
        {
            if (stdin.Length > 0)
                throw new SandboxException(SandboxErrorCode.InvalidArgument, $"stdin '{stdin}' with a binary:// log URI: a logged process has no stdin");
            var uri = stdout.Length > 0 ? stdout : stderr;
            if (stderr.Length > 0 && stderr != uri)
                throw new SandboxException(SandboxErrorCode.InvalidArgument, $"stdout '{stdout}' and stderr '{stderr}': a binary:// logger takes both streams");
            var logger = await BinaryLogger.StartAsync(uri, containerId, ns).ConfigureAwait(false);
            return new TaskStdio(null, logger.Stdout, stderr.Length > 0 ? logger.Stderr : null, logger);
        }
        var input = stdin.Length == 0 ? null : FifoStream.OpenForReading(RequireFifoPath(stdin, "stdin"));
        if (stdout.StartsWith("file://", StringComparison.Ordinal) || stderr.StartsWith("file://", StringComparison.Ordinal))
        {
            var path = FileUri(stdout.Length > 0 ? stdout : stderr);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            return new TaskStdio(input, AppendStream(path), stderr.Length > 0 ? AppendStream(path) : null);
        }
        return new TaskStdio(input,
            stdout.Length == 0 ? null : FifoStream.OpenForWriting(RequireFifoPath(stdout, "stdout")),
            stderr.Length == 0 ? null : FifoStream.OpenForWriting(RequireFifoPath(stderr, "stderr")));
    }

    /// <summary>EOF on the process's stdin now (CloseIO).</summary>
    public void CloseStdin() => _stdin?.CloseForReading();

    public async ValueTask DisposeAsync()
    {
        if (_stdin is not null) await _stdin.DisposeAsync().ConfigureAwait(false);
        if (_stdout is not null) await _stdout.DisposeAsync().ConfigureAwait(false);
        if (_stderr is not null) await _stderr.DisposeAsync().ConfigureAwait(false);
        if (_logger is not null) await _logger.DisposeAsync().ConfigureAwait(false);
    }

    private static FileStream AppendStream(string path) =>
        new(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);

    private static string FileUri(string uri)
    {
        if (!Uri.TryCreate(uri, UriKind.Absolute, out var parsed) || parsed.Scheme != "file" || !Path.IsPathFullyQualified(parsed.LocalPath))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"log URI '{uri}' is not file:///absolute/path");
        return parsed.LocalPath;
    }

    private static string RequireFifoPath(string value, string stream)
    {
        if (value.Contains("://", StringComparison.Ordinal))
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"{stream} '{value}': FIFO paths, file:// and binary:// URIs are supported");
        if (!Path.IsPathFullyQualified(value))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{stream} FIFO '{value}' must be an absolute path");
        return value;
    }
}
