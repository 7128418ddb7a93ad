using System.Formats.Tar;
using System.Text;
using Sandbox.Isolation;

namespace Sandbox.Core;

public sealed partial class SandboxService
{
    /// <summary>How long a remove or rename may take inside the sandbox.</summary>
    private static readonly TimeSpan FileOpTimeout = TimeSpan.FromSeconds(60);

    /// <summary>One entry, not followed when it is a symlink (looked up in its parent's listing; "/" is the root
    /// directory). NotFound naming the path when it does not exist.</summary>
    public async Task<SandboxFileEntry> StatAsync(Principal principal, SandboxId id, string path, CancellationToken cancellationToken)
    {
        var sandbox = Live(principal, id, "read files of");
        var (parent, name) = Split(path);
        if (name.Length == 0)
        {
            await sandbox.ListFilesAsync("/", 1, cancellationToken).ConfigureAwait(false);
            return new SandboxFileEntry("/", SandboxFileKind.Directory, 0, 0x1ed, time.GetUtcNow(), null);
        }
        var listing = await sandbox.ListFilesAsync(parent, 10000, cancellationToken).ConfigureAwait(false);
        return listing.Entries.FirstOrDefault(e => e.Name == name)
            ?? throw new SandboxException(SandboxErrorCode.NotFound, $"{path}: no such file or directory in sandbox {id}");
    }

    /// <summary>Creates a directory and its missing parents (mode 0755), through the seam's confined tar import
    /// rooted at "/": an existing directory is not an error.</summary>
    public async Task<SandboxFileEntry> MakeDirectoryAsync(Principal principal, SandboxId id, string path, CancellationToken cancellationToken)
    {
        var (_, name) = Split(path);
        if (name.Length == 0)
            return await StatAsync(principal, id, "/", cancellationToken).ConfigureAwait(false);
        using var tar = new MemoryStream();
        await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, path.Trim('/') + "/")
            {
                Mode = (UnixFileMode)0x1ed,
            }, cancellationToken).ConfigureAwait(false);
        }
        tar.Position = 0;
        await Live(principal, id, "write files into").ImportDirectoryAsync("/", tar, cancellationToken).ConfigureAwait(false);
        return await StatAsync(principal, id, path, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes a file, a symlink or (with <paramref name="recursive"/>) a directory tree. The seam has no
    /// unlink, so this runs the sandbox's own <c>rm</c> as the workload (argv, no shell): it can remove exactly what
    /// the workload could, and needs a rootfs with rm (FailedPrecondition naming it otherwise).</summary>
    public async Task<bool> RemoveAsync(Principal principal, SandboxId id, string path, bool recursive, bool allowMissing, CancellationToken cancellationToken)
    {
        if (Split(path).Name.Length == 0)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"path '{path}': the root directory cannot be removed");
        Live(principal, id, "remove files of"); // a missing sandbox is not a missing file
        SandboxFileEntry entry;
        try
        {
            entry = await StatAsync(principal, id, path, cancellationToken).ConfigureAwait(false);
        }
        catch (SandboxException e) when (e.Code == SandboxErrorCode.NotFound && allowMissing)
        {
            return false;
        }
        if (entry.Kind == SandboxFileKind.Directory && !recursive)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"{path} is a directory: set recursive to remove it with everything under it");
        await RunFileToolAsync(principal, id, ["rm", recursive ? "-rf" : "-f", "--", path], cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Renames <paramref name="path"/> to <paramref name="newPath"/> (replacing a file there) with the
    /// sandbox's own <c>mv -T</c>, as <see cref="RemoveAsync"/> does with rm.</summary>
    public async Task<SandboxFileEntry> RenameAsync(Principal principal, SandboxId id, string path, string newPath, CancellationToken cancellationToken)
    {
        await StatAsync(principal, id, path, cancellationToken).ConfigureAwait(false);
        if (Split(newPath).Name.Length == 0)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"new_path '{newPath}' must name an entry below the root");
        await RunFileToolAsync(principal, id, ["mv", "-f", "-T", "--", path, newPath], cancellationToken).ConfigureAwait(false);
        return await StatAsync(principal, id, newPath, cancellationToken).ConfigureAwait(false);
    }

    private async Task RunFileToolAsync(Principal principal, SandboxId id, IReadOnlyList<string> argv, CancellationToken cancellationToken)
    {
        using var stderr = new MemoryStream();
        var spec = new ProcessSpec { Argv = argv, WorkingDirectory = "/", Timeout = FileOpTimeout };
        Live(principal, id, argv[0] + " files in"); // a missing sandbox is not a missing tool
        RunningProcess process;
        try
        {
            process = await ExecAsync(principal, id, spec, new ProcessIO { Stderr = stderr }, cancellationToken).ConfigureAwait(false);
        }
        catch (SandboxException e) when (e.Code is SandboxErrorCode.NotFound or SandboxErrorCode.PermissionDenied)
        {
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"sandbox {id} has no usable '{argv[0]}' in its PATH ({e.Message}); it is needed to {argv[0]} files");
        }
        var status = await process.Completion.ConfigureAwait(false);
        if (status.ExitCode != 0)
        {
            var why = Encoding.UTF8.GetString(stderr.GetBuffer(), 0, (int)Math.Min(stderr.Length, 1024)).Trim();
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"{string.Join(' ', argv)} failed in sandbox {id} (exit {status.ExitCode}): {why}");
        }
    }

    /// <summary>An absolute path's parent and last name ("" for the root). InvalidArgument for a relative path.</summary>
    private static (string Parent, string Name) Split(string path)
    {
        if (!path.StartsWith('/') || path.Contains('\0'))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"path '{path}' must be absolute (inside the sandbox)");
        var trimmed = path.TrimEnd('/');
        if (trimmed.Length == 0)
            return ("/", "");
        var slash = trimmed.LastIndexOf('/');
        return (slash == 0 ? "/" : trimmed[..slash], trimmed[(slash + 1)..]);
    }
}
