using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using Sandbox.Isolation;

namespace Sandbox.E2E;

/// <summary>Streaming file transfer and directory tar streams, in and out of sandboxes of both tiers.</summary>
public sealed class FileTransferTests
{
    public static TheoryData<ExecutionMode> Modes => [ExecutionMode.Agent, ExecutionMode.MicroVm];

    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(300);

    private static async Task<string> Run(ISandbox sandbox, string script, CancellationToken cancellationToken)
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var p = await sandbox.ExecAsync(Harness.Sh(script), new ProcessIO { Stdout = stdout, Stderr = stderr }, cancellationToken);
        var status = await p.WaitAsync(cancellationToken);
        Assert.True(status.ExitCode == 0, $"'{script}' exited {status.ExitCode}: {Encoding.UTF8.GetString(stderr.ToArray())}");
        return Encoding.UTF8.GetString(stdout.ToArray());
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task A_large_file_streams_in_and_out_unchanged(ExecutionMode mode)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.DriverFor(mode).CreateAsync(new SandboxSpec(), guard.Token);
        const long size = (40L << 20) + 12345; // not a multiple of the 1 MiB chunk
        using var source = new PatternStream(size);
        Assert.Equal(size, await sandbox.WriteFileFromAsync("/work/big.bin", source, 0x1a4, guard.Token));
        var inside = (await Run(sandbox, "sha256sum /work/big.bin; stat -c '%s %u' /work/big.bin", guard.Token)).Split('\n');
        Assert.Equal(source.Sha256Hex, inside[0].Split(' ')[0]);
        Assert.Equal($"{size} 1000", inside[1]);

        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var sink = new HashingSink(sha);
        Assert.Equal(size, await sandbox.ReadFileToAsync("/work/big.bin", sink, size, guard.Token));
        Assert.Equal(source.Sha256Hex, Convert.ToHexStringLower(sha.GetHashAndReset()));

        var e = await Assert.ThrowsAsync<SandboxException>(() => sandbox.ReadFileToAsync("/work/big.bin", Stream.Null, size - 1, guard.Token));
        Assert.Equal(SandboxErrorCode.ResourceExhausted, e.Code);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task A_directory_goes_out_and_back_in_as_tar(ExecutionMode mode)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.DriverFor(mode).CreateAsync(new SandboxSpec(), guard.Token);
        await Run(sandbox, "mkdir -p /work/t/a/b && echo hello > /work/t/a/b/f && chmod 600 /work/t/a/b/f && ln -s f /work/t/a/b/l"
            + " && head -c 3000000 /dev/urandom > /work/t/r && : > /work/t/empty", guard.Token);
        var tar = new MemoryStream();
        await sandbox.ExportDirectoryAsync("/work/t", tar, guard.Token);

        tar.Position = 0;
        var entries = new Dictionary<string, TarEntry>();
        await using (var reader = new TarReader(tar, leaveOpen: true))
        {
            while (await reader.GetNextEntryAsync(copyData: true, guard.Token) is { } entry)
                entries[entry.Name] = entry;
        }
        Assert.Equal(new[] { "a/", "a/b/", "a/b/f", "a/b/l", "empty", "r" }, entries.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(TarEntryType.SymbolicLink, entries["a/b/l"].EntryType);
        Assert.Equal("f", entries["a/b/l"].LinkName);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, entries["a/b/f"].Mode);
        Assert.Equal("hello\n", new StreamReader(entries["a/b/f"].DataStream!).ReadToEnd());
        Assert.Equal(3_000_000, entries["r"].Length);

        // Back in, without the symlink (only directories and regular files are unpacked).
        var clean = new MemoryStream();
        await using (var writer = new TarWriter(clean, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var entry in entries.Values.Where(e => e.EntryType != TarEntryType.SymbolicLink))
            {
                entry.DataStream?.Seek(0, SeekOrigin.Begin);
                await writer.WriteEntryAsync(entry, guard.Token);
            }
        }
        clean.Position = 0;
        await sandbox.ImportDirectoryAsync("/work/u", clean, guard.Token);
        var check = await Run(sandbox, "cd /work/u && cat a/b/f && stat -c '%a %u' a/b/f && cmp r /work/t/r && echo same && test -f empty && echo empty", guard.Token);
        Assert.Equal("hello\n600 1000\nsame\nempty\n", check);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Tar_import_refuses_names_that_leave_the_directory_and_links(ExecutionMode mode)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.DriverFor(mode).CreateAsync(new SandboxSpec(), guard.Token);
        foreach (var (entry, expected) in new (TarEntry, string)[]
        {
            (new PaxTarEntry(TarEntryType.RegularFile, "../escaped") { DataStream = new MemoryStream("x"u8.ToArray()) }, "'..'"),
            (new PaxTarEntry(TarEntryType.RegularFile, "/work/abs") { DataStream = new MemoryStream("x"u8.ToArray()) }, "relative"),
            (new PaxTarEntry(TarEntryType.SymbolicLink, "link") { LinkName = "/etc/passwd" }, "SymbolicLink"),
        })
        {
            var tar = new MemoryStream();
            await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
                await writer.WriteEntryAsync(entry, guard.Token);
            tar.Position = 0;
            var e = await Assert.ThrowsAsync<SandboxException>(() => sandbox.ImportDirectoryAsync("/work/in", tar, guard.Token));
            Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
            Assert.Contains(expected, e.Message);
        }
        Assert.Equal("none\n", await Run(sandbox, "ls /work/escaped /work/abs /work/in/link 2>/dev/null || echo none", guard.Token));
    }

    /// <summary>A deterministic, seekless byte stream of a given length that is never held in memory; its SHA-256 is
    /// known once it has been read to the end.</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private long _position;
        private string? _hex;

        public string Sha256Hex => _hex ?? throw new InvalidOperationException("not read to the end");

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            for (var i = 0; i < n; i++)
                buffer[offset + i] = (byte)((_position + i) * 2654435761L >> 13);
            _sha.AppendData(buffer, offset, n);
            _position += n;
            if (_position == length && _hex is null)
                _hex = Convert.ToHexStringLower(_sha.GetHashAndReset());
            return n;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                _sha.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>A write-only stream that only hashes what it is given.</summary>
    private sealed class HashingSink(IncrementalHash sha) : Stream
    {
        public override void Write(byte[] buffer, int offset, int count) => sha.AppendData(buffer, offset, count);

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
