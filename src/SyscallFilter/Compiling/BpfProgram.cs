using System.Text;
using Org.BouncyCastle.Crypto.Digests;

namespace Sandbox.SyscallFilter;

/// <summary>A compiled seccomp filter: the <c>struct sock_filter</c> array bubblewrap's <c>--seccomp FD</c> reads.</summary>
public sealed class BpfProgram
{
    /// <summary>BPF_MAXINSNS: the most instructions the kernel accepts in one filter.</summary>
    public const int MaxInstructions = 4096;

    private readonly SockFilter[] _instructions;
    private readonly byte[] _bytes;

    internal BpfProgram(SockFilter[] instructions)
    {
        _instructions = instructions;
        _bytes = new byte[instructions.Length * SockFilter.Size];
        for (var i = 0; i < instructions.Length; i++)
        {
            instructions[i].WriteTo(_bytes.AsSpan(i * SockFilter.Size, SockFilter.Size));
        }

        Sha256 = Convert.ToHexStringLower(Digest(_bytes));
    }

    /// <summary>SHA-256 by a managed implementation: the same digest as OpenSSL's, without loading OpenSSL into a
    /// process that needs it for nothing else (the containerd shim).</summary>
    internal static byte[] Digest(ReadOnlySpan<byte> data)
    {
        var sha = new Sha256Digest();
        sha.BlockUpdate(data);
        var digest = new byte[sha.GetDigestSize()];
        sha.DoFinal(digest);
        return digest;
    }

    public IReadOnlyList<SockFilter> Instructions => _instructions;

    public int InstructionCount => _instructions.Length;

    /// <summary>Hex SHA-256 of <see cref="ToBytes"/>: the "seccomp profile digest" a sandbox reports.</summary>
    public string Sha256 { get; }

    /// <summary>A fresh copy of the raw program: <see cref="InstructionCount"/> × 8 bytes, little-endian.</summary>
    public byte[] ToBytes() => (byte[])_bytes.Clone();

    /// <summary>One line per instruction, <c>(index) mnemonic</c>, jump targets absolute.</summary>
    public string Disassemble()
    {
        var text = new StringBuilder();
        for (var i = 0; i < _instructions.Length; i++)
        {
            text.Append('(').Append(i.ToString("D3", System.Globalization.CultureInfo.InvariantCulture)).Append(") ")
                .Append(_instructions[i].ToString(i)).Append('\n');
        }

        return text.ToString();
    }
}
