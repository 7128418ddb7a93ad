using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Sandbox.Isolation;
using Sandbox.KataShim.Interop;

namespace Sandbox.KataShim.Io;

/// <summary>A `binary:///abs/path?k=v` log URI, started as containerd's runc shim starts it
/// (containerd pkg/process/io.go NewBinaryIO): the program at the path, with the query as arguments (`k v`, a key
/// without a value gives the key only), environment exactly CONTAINER_ID and CONTAINER_NAMESPACE, stdin/stdout/stderr
/// /dev/null, fd 3 = the read end of the process's stdout, fd 4 = the read end of its stderr, fd 5 = a "ready" pipe
/// the logger writes to or closes when it is ready. The container starts only after that. The logger runs on the host
/// with the shim's rights, as with runc: whoever may give containerd a log URI already runs host code through it.
/// On close the output pipes end (EOF), then SIGTERM, and SIGKILL after 12 s (runc's grace time).</summary>
internal sealed class BinaryLogger : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan TermGrace = TimeSpan.FromSeconds(12);

    private readonly HostHelperProcess _logger;
    private int _disposed;

    private BinaryLogger(HostHelperProcess logger, FileStream stdout, FileStream stderr)
    {
        _logger = logger;
        Stdout = stdout;
        Stderr = stderr;
    }

    /// <summary>The write end of the logger's fd 3.</summary>
    public FileStream Stdout { get; }

    /// <summary>The write end of the logger's fd 4.</summary>
    public FileStream Stderr { get; }

    public static bool IsBinaryUri(string value) => value.StartsWith("binary://", StringComparison.Ordinal);

    /// <summary>The program and its arguments from the URI; an error names what is wrong with it.</summary>
    public static (string Path, List<string> Args) Parse(string uri)
    {
        if (!Uri.TryCreate(uri, UriKind.Absolute, out var parsed) || parsed.Scheme != "binary" || parsed.Host.Length > 0
            || !Path.IsPathFullyQualified(parsed.AbsolutePath))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"log URI '{uri}' is not binary:///absolute/path[?key=value&...]");
        var path = Uri.UnescapeDataString(parsed.AbsolutePath);
        var args = new List<string>();
        foreach (var pair in parsed.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            args.Add(Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]));
            if (eq >= 0)
                args.Add(Uri.UnescapeDataString(pair[(eq + 1)..]));
        }
        if (!File.Exists(path))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"log URI '{uri}': logging binary '{path}' does not exist");
        return (path, args);
    }

    /// <summary>Starts the logger and waits until it says it is ready (a byte on fd 5, or fd 5 closed).</summary>
    public static async Task<BinaryLogger> StartAsync(string uri, string containerId, string ns)
    {
        var (path, args) = Parse(uri);
        var (outRead, outWrite) = NewPipe();
        var (errRead, errWrite) = NewPipe();
        var (readyRead, readyWrite) = NewPipe();
        HostHelperProcess? logger = null;
        try
        {
            var nullFd = Libc.Open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
            try
            {
                logger = HostHelperProcess.Start(path, [path, .. args], ["CONTAINER_ID=" + containerId, "CONTAINER_NAMESPACE=" + ns],
                [
                    (nullFd, 0), (nullFd, 1), (nullFd, 2),
                    ((int)outRead.DangerousGetHandle(), 3), ((int)errRead.DangerousGetHandle(), 4),
                    ((int)readyWrite.DangerousGetHandle(), 5),
                ], newSession: true);
            }
            finally
            {
                Libc.Close(nullFd);
            }
            var exited = logger.Exited;
            // The logger holds its own copies now: our read ends and ready write end must go, or EOF never comes.
            outRead.Dispose();
            errRead.Dispose();
            readyWrite.Dispose();
            using (var ready = new FileStream(readyRead, FileAccess.Read, bufferSize: 0))
            {
                var read = ready.ReadAsync(new byte[1]).AsTask();
                await ((Task)Task.WhenAny(read, exited)).WaitAsync(ReadyTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (!read.IsCompleted && exited.IsCompleted)
                    throw new SandboxException(SandboxErrorCode.Unavailable, $"logging binary '{path}' exited (status {exited.Result}) before it was ready");
                if (!read.IsCompleted)
                {
                    logger.Signal(9);
                    throw new SandboxException(SandboxErrorCode.Unavailable,
                        $"logging binary '{path}' did not signal readiness on fd 5 within {ReadyTimeout.TotalSeconds:0} s");
                }
            }
            return new BinaryLogger(logger,
                new FileStream(outWrite, FileAccess.Write, bufferSize: 0), new FileStream(errWrite, FileAccess.Write, bufferSize: 0));
        }
        catch
        {
            logger?.Signal(9);
            logger?.Dispose();
            foreach (var handle in new[] { outRead, outWrite, errRead, errWrite, readyRead, readyWrite })
                handle.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await Stdout.DisposeAsync().ConfigureAwait(false);
        await Stderr.DisposeAsync().ConfigureAwait(false);
        // runc's order: the output ends, then SIGTERM so the logger flushes and exits, SIGKILL if it does not.
        _logger.Signal(15);
        await ((Task)_logger.Exited).WaitAsync(TermGrace).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!_logger.Exited.IsCompleted)
        {
            _logger.Signal(9);
            await ((Task)_logger.Exited).WaitAsync(TermGrace).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        _logger.Dispose();
    }

    private static unsafe (SafeFileHandle Read, SafeFileHandle Write) NewPipe()
    {
        var fds = stackalloc int[2];
        if (Libc.Pipe2(fds, Libc.O_CLOEXEC) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new SandboxException(SandboxErrorCode.Internal, $"pipe2 failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        return (new SafeFileHandle(fds[0], ownsHandle: true), new SafeFileHandle(fds[1], ownsHandle: true));
    }
}
