using System.Collections.Frozen;
using System.Globalization;

namespace Sandbox.SyscallFilter.Loading;

/// <summary>Symbolic names a profile may use for errno values and argument constants.</summary>
internal static class ProfileConstants
{
    internal static readonly FrozenDictionary<string, int> ErrnoNames = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["EPERM"] = 1, ["ENOENT"] = 2, ["ESRCH"] = 3, ["EINTR"] = 4, ["EIO"] = 5, ["ENXIO"] = 6, ["E2BIG"] = 7,
        ["ENOEXEC"] = 8, ["EBADF"] = 9, ["ECHILD"] = 10, ["EAGAIN"] = 11, ["ENOMEM"] = 12, ["EACCES"] = 13,
        ["EFAULT"] = 14, ["EBUSY"] = 16, ["EEXIST"] = 17, ["EXDEV"] = 18, ["ENODEV"] = 19, ["ENOTDIR"] = 20,
        ["EISDIR"] = 21, ["EINVAL"] = 22, ["ENFILE"] = 23, ["EMFILE"] = 24, ["ENOTTY"] = 25, ["EFBIG"] = 27,
        ["ENOSPC"] = 28, ["ESPIPE"] = 29, ["EROFS"] = 30, ["EMLINK"] = 31, ["EPIPE"] = 32, ["ERANGE"] = 34,
        ["ENOSYS"] = 38, ["ENOTSUP"] = 95, ["EOPNOTSUPP"] = 95, ["EAFNOSUPPORT"] = 97, ["EPROTONOSUPPORT"] = 93,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Argument constants for readable profiles (x86_64 values).</summary>
    internal static readonly FrozenDictionary<string, ulong> ArgumentNames = new Dictionary<string, ulong>(StringComparer.Ordinal)
    {
        // clone(2) flags
        ["CLONE_VM"] = 0x00000100, ["CLONE_FS"] = 0x00000200, ["CLONE_FILES"] = 0x00000400,
        ["CLONE_SIGHAND"] = 0x00000800, ["CLONE_PIDFD"] = 0x00001000, ["CLONE_PTRACE"] = 0x00002000,
        ["CLONE_VFORK"] = 0x00004000, ["CLONE_PARENT"] = 0x00008000, ["CLONE_THREAD"] = 0x00010000,
        ["CLONE_NEWNS"] = 0x00020000, ["CLONE_SYSVSEM"] = 0x00040000, ["CLONE_SETTLS"] = 0x00080000,
        ["CLONE_PARENT_SETTID"] = 0x00100000, ["CLONE_CHILD_CLEARTID"] = 0x00200000, ["CLONE_DETACHED"] = 0x00400000,
        ["CLONE_UNTRACED"] = 0x00800000, ["CLONE_CHILD_SETTID"] = 0x01000000, ["CLONE_NEWCGROUP"] = 0x02000000,
        ["CLONE_NEWUTS"] = 0x04000000, ["CLONE_NEWIPC"] = 0x08000000, ["CLONE_NEWUSER"] = 0x10000000,
        ["CLONE_NEWPID"] = 0x20000000, ["CLONE_NEWNET"] = 0x40000000, ["CLONE_IO"] = 0x80000000,
        // socket(2) address families
        ["AF_UNIX"] = 1, ["AF_LOCAL"] = 1, ["AF_INET"] = 2, ["AF_INET6"] = 10, ["AF_NETLINK"] = 16,
        ["AF_PACKET"] = 17, ["AF_VSOCK"] = 40, ["AF_ALG"] = 38,
        // ioctl(2) requests on terminals
        ["TIOCSTI"] = 0x5412, ["TIOCLINUX"] = 0x541C,
        // personality(2)
        ["PER_LINUX"] = 0x0, ["PER_LINUX32"] = 0x8, ["UNAME26"] = 0x20000, ["PERSONALITY_QUERY"] = 0xffffffff,
        ["U32_MAX"] = 0xffffffff,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>
    /// Parses a non-negative 64-bit number: decimal, 0x hex, 0o octal, a name from <see cref="ArgumentNames"/>,
    /// or several of those joined by '|'. Returns an error text naming the bad part, or null.
    /// </summary>
    internal static string? TryParseNumber(string text, out ulong value)
    {
        value = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return "expected a number, got an empty value";
        }

        foreach (var rawPart in text.Split('|'))
        {
            var part = rawPart.Trim();
            ulong partValue;
            if (part.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            {
                if (!ulong.TryParse(part.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out partValue))
                {
                    return $"'{part}' is not a 64-bit hexadecimal number";
                }
            }
            else if (part.StartsWith("0o", StringComparison.OrdinalIgnoreCase))
            {
                try
                {
                    partValue = Convert.ToUInt64(part[2..], 8);
                }
                catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
                {
                    return $"'{part}' is not a 64-bit octal number";
                }
            }
            else if (part.Length > 0 && char.IsAsciiDigit(part[0]))
            {
                if (!ulong.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out partValue))
                {
                    return $"'{part}' is not a non-negative 64-bit number";
                }
            }
            else if (!ArgumentNames.TryGetValue(part, out partValue))
            {
                return $"'{part}' is neither a number nor a known constant (known: {string.Join(", ", ArgumentNames.Keys.Order(StringComparer.Ordinal))})";
            }

            value |= partValue;
        }

        return null;
    }
}
