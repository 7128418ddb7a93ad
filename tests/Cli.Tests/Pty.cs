using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Sandbox.Cli.Tests;

/// <summary>A pseudo-terminal made by the test: the CLI runs with its slave as stdin, stdout, stderr and controlling
/// terminal (setsid --ctty), the test types into the master, reads everything the CLI writes, and resizes the window
/// (the kernel then sends SIGWINCH to the CLI, as a terminal emulator does).</summary>
public sealed partial class Pty : IDisposable
{
    private const int O_RDWR = 2, O_NOCTTY = 0x100;
    private const nuint TIOCSWINSZ = 0x5414;

    [StructLayout(LayoutKind.Sequential)]
    private struct WinSize
    {
        public ushort Rows, Cols, XPixel, YPixel;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int posix_openpt(int flags);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int grantpt(SafeFileHandle fd);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int unlockpt(SafeFileHandle fd);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int ptsname_r(SafeFileHandle fd, [Out] byte[] buffer, nuint length);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int ioctl(SafeFileHandle fd, nuint request, ref WinSize size);

    private readonly SafeFileHandle _master;
    private readonly FileStream _stream;
    private readonly StringBuilder _output = new();
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _reader;

    public string SlavePath { get; }

    public Pty(int rows, int cols)
    {
        var fd = posix_openpt(O_RDWR | O_NOCTTY);
        if (fd < 0)
            throw new IOException($"posix_openpt: errno {Marshal.GetLastPInvokeError()}");
        _master = new SafeFileHandle(fd, ownsHandle: true);
        var name = new byte[128];
        if (grantpt(_master) != 0 || unlockpt(_master) != 0 || ptsname_r(_master, name, (nuint)name.Length) != 0)
            throw new IOException($"grantpt/unlockpt/ptsname_r: errno {Marshal.GetLastPInvokeError()}");
        SlavePath = Encoding.ASCII.GetString(name, 0, Array.IndexOf(name, (byte)0));
        Resize(rows, cols);
        _stream = new FileStream(_master, FileAccess.ReadWrite, bufferSize: 0);
        _reader = new Thread(ReadAll) { IsBackground = true, Name = "pty-master" };
        _reader.Start();
    }

    /// <summary>Starts <paramref name="file"/> with the slave as its terminal (a session of its own).</summary>
    public Process Start(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        foreach (var a in (string[])["-c", "exec setsid -w -c \"$@\" <\"$0\" >\"$0\" 2>&1", SlavePath, file, .. args])
            psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment)
            psi.Environment[k] = v;
        return Process.Start(psi)!;
    }

    public void Write(string text) => _stream.Write(Encoding.UTF8.GetBytes(text));

    /// <summary>Sets the window size (TIOCSWINSZ on the master: the slave's foreground process group gets SIGWINCH).</summary>
    public void Resize(int rows, int cols)
    {
        var size = new WinSize { Rows = (ushort)rows, Cols = (ushort)cols };
        if (ioctl(_master, TIOCSWINSZ, ref size) != 0)
            throw new IOException($"TIOCSWINSZ: errno {Marshal.GetLastPInvokeError()}");
    }

    public string Output
    {
        get { lock (_lock) return _output.ToString(); }
    }

    /// <summary>Waits until the output (from <paramref name="from"/> on) matches, each read waking it; fails with the
    /// output after <paramref name="guard"/>.</summary>
    public async Task<int> WaitForAsync(string pattern, int from, TimeSpan guard)
    {
        using var cancel = new CancellationTokenSource(guard);
        var regex = new System.Text.RegularExpressions.Regex(pattern);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                var m = regex.Match(_output.ToString(), from);
                if (m.Success)
                    return m.Index + m.Length;
                changed = _changed.Task;
            }
            try
            {
                await changed.WaitAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                throw new Xunit.Sdk.XunitException($"no /{pattern}/ on the terminal after {guard}; it shows:\n{Output}");
            }
        }
    }

    private void ReadAll()
    {
        var buffer = new byte[4096];
        try
        {
            int n;
            while ((n = _stream.Read(buffer, 0, buffer.Length)) > 0)
            {
                lock (_lock)
                {
                    _output.Append(Encoding.UTF8.GetString(buffer, 0, n));
                    _changed.TrySetResult();
                    _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }
        }
        catch (IOException)
        {
            // EIO: every slave descriptor is closed (the CLI exited).
        }
    }

    public void Dispose()
    {
        _stream.Dispose();
        _master.Dispose();
    }
}
