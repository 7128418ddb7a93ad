using System.Formats.Tar;
using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Images;

/// <summary>Applies image layers (tar streams) in order onto one directory, the image's unpacked root, with OCI
/// whiteouts (<c>.wh.NAME</c> deletes NAME from the layers below; <c>.wh..wh..opq</c> empties its directory of
/// them). Every entry is checked before anything is written: names must be relative without <c>..</c>; no entry is
/// written through a symlink (each parent component is lstat'ed, a final component is removed before it is
/// created, files are created with O_EXCL); symlinks may not climb above the root; hardlinks must name a regular file
/// already inside it; device nodes and fifos are refused; setuid/setgid bits are dropped; bytes and entries are
/// counted against <see cref="ImageLimits"/> as they are read. The caller applies into a fresh directory it deletes
/// on any failure, so a refused layer leaves nothing.</summary>
internal sealed class LayerApplier(string root, ImageLimits limits)
{
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueWhiteout = ".wh..wh..opq";
    private const UnixFileMode PermissionBits = (UnixFileMode)0x3FF; // rwx for u/g/o + sticky (01777)

    /// <summary>Decompressed bytes of all layers applied so far.</summary>
    public long UnpackedBytes { get; private set; }
    public int Entries { get; private set; }

    /// <summary>Applies one layer; returns its diff id (the digest of the uncompressed tar), for the caller to check
    /// against the image config's rootfs.diff_ids.</summary>
    public async Task<ImageDigest> ApplyAsync(Stream blob, string what, CancellationToken cancellationToken)
    {
        var tar = LayerCompression.OpenTar(blob, what);
        var left = limits.MaxUnpackedBytes - UnpackedBytes;
        using var bounded = new BoundedStream(tar, left, _ =>
            $"{what} decompresses to more than the {limits.MaxUnpackedBytes} bytes an image may unpack to (decompression bomb?)");
        var createdHere = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            await using var reader = new TarReader(bounded, leaveOpen: true);
            while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                if (++Entries > limits.MaxEntries)
                    throw new SandboxException(SandboxErrorCode.ResourceExhausted,
                        $"{what}: the image has more than {limits.MaxEntries} entries, the most one image may hold");
                await ApplyEntryAsync(entry, what, createdHere, cancellationToken).ConfigureAwait(false);
            }
            await bounded.DrainAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{what} is not a readable tar stream: {e.Message}", e);
        }
        UnpackedBytes += bounded.BytesRead;
        return bounded.Digest();
    }

    private async Task ApplyEntryAsync(TarEntry entry, string what, HashSet<string> createdHere, CancellationToken cancellationToken)
    {
        if (entry.EntryType is TarEntryType.GlobalExtendedAttributes)
            return;
        var parts = SplitName(entry.Name, what);
        if (parts.Length == 0)
            return; // "./": the root itself keeps the store's mode
        var name = parts[^1];
        var parent = EnsureParent(parts[..^1], entry.Name, what);
        var relative = string.Join('/', parts);

        if (name == OpaqueWhiteout)
        {
            var parentRelative = string.Join('/', parts[..^1]);
            foreach (var child in new DirectoryInfo(parent).EnumerateFileSystemInfos())
            {
                var childRelative = parentRelative.Length == 0 ? child.Name : parentRelative + "/" + child.Name;
                if (!createdHere.Contains(childRelative))
                    Remove(child.FullName);
            }
            return;
        }
        if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
        {
            var hidden = name[WhiteoutPrefix.Length..];
            if (hidden is "" or "." or "..")
                throw Refused(what, entry.Name, "is a whiteout of no valid name");
            Remove(Path.Combine(parent, hidden));
            return;
        }

        var path = Path.Combine(parent, name);
        var mode = (UnixFileMode)((int)entry.Mode) & PermissionBits; // setuid and setgid dropped here
        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
                if (KindOf(path) != EntryKind.Directory)
                {
                    Remove(path);
                    Directory.CreateDirectory(path);
                }
                File.SetUnixFileMode(path, mode);
                break;
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                Remove(path);
                await using (var file = new FileStream(path, new FileStreamOptions
                             {
                                 Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None,
                                 UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                             }))
                {
                    if (entry.DataStream is { } data)
                        await data.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                }
                File.SetUnixFileMode(path, mode);
                break;
            case TarEntryType.SymbolicLink:
                CheckLinkTarget(parts[..^1], entry.LinkName, entry.Name, what);
                Remove(path);
                File.CreateSymbolicLink(path, entry.LinkName);
                break;
            case TarEntryType.HardLink:
                var targetParts = SplitName(entry.LinkName, what);
                if (targetParts.Length == 0)
                    throw Refused(what, entry.Name, "is a hardlink to the root");
                var target = Path.Combine(EnsureParent(targetParts[..^1], entry.LinkName, what), targetParts[^1]);
                if (KindOf(target) != EntryKind.File)
                    throw Refused(what, entry.Name, $"is a hardlink to '{entry.LinkName}', which is not a regular file earlier in the image");
                Remove(path);
                if (Interop.Libc.Link(target, path) != 0)
                    throw new SandboxException(SandboxErrorCode.Internal,
                        $"{what}: linking '{entry.Name}' to '{entry.LinkName}' failed: errno {Marshal.GetLastPInvokeError()}");
                break;
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice:
                throw Refused(what, entry.Name, $"is a device node ({entry.EntryType}); images may not carry devices (the sandbox gets its own /dev)");
            default:
                throw Refused(what, entry.Name, $"has tar entry type {entry.EntryType}; directories, regular files, symlinks and hardlinks are accepted");
        }
        if (entry.EntryType is not TarEntryType.HardLink)
            _ = Interop.Libc.Lchown(path, entry.Uid, entry.Gid); // best effort: a store not run by root keeps its own uid
        createdHere.Add(relative);
    }

    /// <summary>A tar name as its components; refuses absolute names, <c>..</c> and NUL.</summary>
    internal static string[] SplitName(string name, string what)
    {
        if (name.Contains('\0'))
            throw Refused(what, name.Replace('\0', '?'), "contains a NUL byte");
        if (name.StartsWith('/'))
            throw Refused(what, name, "is an absolute path; layer entries must be relative to the image root");
        var parts = name.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToArray();
        if (parts.Contains(".."))
            throw Refused(what, name, "contains '..'; layer entries may not leave the image root");
        return parts;
    }

    /// <summary>The directory an entry goes into: missing components are created (0755), a component that is a
    /// symlink or not a directory is refused, so nothing is ever written through a link.</summary>
    private string EnsureParent(string[] parentParts, string entryName, string what)
    {
        var path = root;
        foreach (var part in parentParts)
        {
            path = Path.Combine(path, part);
            switch (KindOf(path))
            {
                case EntryKind.None:
                    Directory.CreateDirectory(path);
                    break;
                case EntryKind.Symlink:
                    throw Refused(what, entryName, $"would be written through the symlink '{Path.GetRelativePath(root, path)}'");
                case EntryKind.File:
                    throw Refused(what, entryName, $"needs '{Path.GetRelativePath(root, path)}' to be a directory, but it is a file");
            }
        }
        return path;
    }

    /// <summary>A symlink's target, followed lexically from the link's directory (or the root, when absolute), may
    /// not climb above the image root.</summary>
    private static void CheckLinkTarget(string[] linkParentParts, string target, string entryName, string what)
    {
        if (target.Length == 0 || target.Contains('\0'))
            throw Refused(what, entryName, "is a symlink with an empty target or a NUL byte");
        var depth = target.StartsWith('/') ? 0 : linkParentParts.Length;
        foreach (var part in target.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".")
                continue;
            if (part != "..")
                depth++;
            else if (--depth < 0)
                throw Refused(what, entryName, $"is a symlink to '{target}', which points outside the image root");
        }
    }

    private enum EntryKind { None, Symlink, Directory, File }

    /// <summary>lstat: a symlink is a symlink (dangling or not), never what it points to.</summary>
    private static EntryKind KindOf(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null)
            return EntryKind.Symlink;
        if (info.Exists)
            return EntryKind.File;
        return Directory.Exists(path) ? EntryKind.Directory : EntryKind.None;
    }

    /// <summary>Removes whatever is at <paramref name="path"/> (a link itself, never its target).</summary>
    private static void Remove(string path)
    {
        switch (KindOf(path))
        {
            case EntryKind.Directory:
                Directory.Delete(path, recursive: true);
                break;
            case EntryKind.Symlink or EntryKind.File:
                File.Delete(path);
                break;
        }
    }

    private static SandboxException Refused(string what, string entryName, string why)
        => new(SandboxErrorCode.InvalidArgument, $"{what}: entry '{entryName}' {why}");
}
