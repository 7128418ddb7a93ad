using System.Globalization;
using Sandbox.Isolation;

namespace Sandbox.KataShim.Oci;

/// <summary>The bundle's tmpfs mounts at destinations other than the engine's own (`ctr run --mount type=tmpfs,...`, a
/// Kubernetes emptyDir of medium Memory) → <see cref="ScratchMount"/>s the sandbox owns on either tier. Options:
/// size= (bytes, or with a k/m/g suffix; none = Core's default), mode= (octal), nosuid, nodev (always applied), noexec,
/// ro, rw; anything else is an error naming it. The destination is checked by the engine (<see cref="SpecValidator"/>).</summary>
internal static class TmpfsMounts
{
    private static readonly string[] Flags = ["nosuid", "nodev", "noexec", "ro", "rw"];

    /// <summary>Null when <paramref name="m"/> is not a tmpfs mount; problems go to <paramref name="errors"/>.</summary>
    public static ScratchMount? Check(OciMount m, int index, List<string> errors)
    {
        if (m.Type != "tmpfs")
            return null;
        var at = $"mounts[{index}] (tmpfs → {m.Destination})";
        var mount = new ScratchMount(m.Destination);
        var errorsBefore = errors.Count;
        if (m.Destination.Split('/').Any(c => c is ".." or ".") || !m.Destination.StartsWith('/'))
            errors.Add($"{at}: the destination must be an absolute path without '.' or '..'");
        else if (m.Destination.TrimEnd('/').Length == 0 || Rootfs.BindMounts.EngineDirs.Any(d => m.Destination == d || m.Destination.StartsWith(d + "/", StringComparison.Ordinal)))
            errors.Add($"{at}: the destination is the engine's own ({string.Join(", ", Rootfs.BindMounts.EngineDirs)} and / are provided by the sandbox; its own tmpfs mounts at /dev/shm and /run are taken as they are)");
        foreach (var option in m.Options ?? [])
        {
            if (option.StartsWith("size=", StringComparison.Ordinal))
            {
                if (ParseSize(option[5..]) is { } size)
                    mount = mount with { SizeBytes = size };
                else
                    errors.Add($"{at}: option '{option}' is not a size (bytes, or a number with k, m or g)");
            }
            else if (option.StartsWith("mode=", StringComparison.Ordinal))
            {
                if (option.Length is > 5 and <= 10 && option[5..].All(c => c is >= '0' and <= '7'))
                    mount = mount with { Mode = Convert.ToInt32(option[5..], 8) };
                else
                    errors.Add($"{at}: option '{option}' is not an octal mode of at most 07777");
            }
            else if (option == "noexec")
                mount = mount with { NoExec = true };
            else if (option == "ro")
                mount = mount with { ReadOnly = true };
            else if (!Flags.Contains(option))
                errors.Add($"{at}: option '{option}' is not supported (accepted: size=, mode=, {string.Join(", ", Flags)})");
        }
        return errors.Count == errorsBefore ? mount : null;
    }

    private static long? ParseSize(string text)
    {
        if (text.Length == 0)
            return null;
        var shift = char.ToLowerInvariant(text[^1]) switch { 'k' => 10, 'm' => 20, 'g' => 30, _ => 0 };
        var digits = shift > 0 ? text[..^1] : text;
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 && n <= (1L << 50) >> shift
            ? n << shift
            : null;
    }
}
