using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

using Sandbox.SyscallFilter.Tables;

namespace Sandbox.SyscallFilter;

/// <summary>
/// The x86_64 (64-bit ABI) syscall table: names and numbers as in the kernel's syscall_64.tbl.
/// x32 syscalls (bit 30 set) are not in it; the compiled filter kills them.
/// </summary>
public static class SyscallTable
{
    /// <summary>The architecture name used in messages.</summary>
    public const string ArchitectureName = "x86_64";

    /// <summary>AUDIT_ARCH_X86_64 (EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE), as seen in seccomp_data.arch.</summary>
    public const uint AuditArch = 0xC000003E;

    /// <summary>__X32_SYSCALL_BIT: syscall numbers at or above this are the x32 ABI.</summary>
    public const uint X32SyscallBit = 0x40000000;

    private static readonly FrozenDictionary<string, int> ByName =
        SyscallTableX86_64.Entries.ToFrozenDictionary(e => e.Name, e => e.Number, StringComparer.Ordinal);

    private static readonly FrozenDictionary<int, string> ByNumber =
        SyscallTableX86_64.Entries.ToFrozenDictionary(e => e.Number, e => e.Name);

    /// <summary>The highest syscall number in the table.</summary>
    public static int MaxNumber { get; } = SyscallTableX86_64.Entries[^1].Number;

    /// <summary>Every syscall name, ordered by number.</summary>
    public static IReadOnlyList<string> Names { get; } = SyscallTableX86_64.Entries.Select(e => e.Name).ToArray();

    public static bool TryGetNumber(string name, out int number) => ByName.TryGetValue(name, out number);

    public static bool TryGetName(int number, [NotNullWhen(true)] out string? name) => ByNumber.TryGetValue(number, out name);

    /// <summary>The number of <paramref name="name"/>; throws <see cref="ArgumentException"/> naming it when unknown.</summary>
    public static int GetNumber(string name) =>
        ByName.TryGetValue(name, out var number)
            ? number
            : throw new ArgumentException($"unknown syscall '{name}' for {ArchitectureName}", nameof(name));
}
