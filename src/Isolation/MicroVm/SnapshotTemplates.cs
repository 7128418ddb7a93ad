using System.Security.Cryptography;
using System.Text;

namespace Sandbox.Isolation.MicroVm;

/// <summary>A built snapshot template: the guest RAM file (mapped MAP_PRIVATE by every clone) and the device state.</summary>
public sealed record SnapshotTemplate(string Key, string Directory)
{
    public string RamPath => Path.Combine(Directory, "ram");
    public string StatePath => Path.Combine(Directory, "state");
}

/// <summary>
/// The on-disk cache of snapshot templates, &lt;root&gt;/&lt;key&gt;/{ram,state,identity}. The key digests everything
/// the saved machine depends on: QEMU's binary, the guest kernel and initramfs files, and the exact QEMU command line
/// with per-VM paths replaced by placeholders (RAM size, vCPUs, accelerator, kernel command line, devices and share
/// tags in order). A template is built in a private directory next to its final place and renamed into place when
/// complete, so a reader never sees half of one; builders of one key serialize on &lt;key&gt;.lock (an flock held
/// through a FileShare.None open, across processes and threads). A template directory never changes once in place:
/// restored clones map its RAM file copy-on-write for as long as they live.
/// </summary>
public sealed class SnapshotTemplates(string root)
{
    private static readonly TimeSpan s_touchEvery = TimeSpan.FromHours(1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTime> _touched = new();

    public string Root { get; } = root;

    /// <summary>Records that a template is in use (its identity file's mtime), at most once an hour per process;
    /// <see cref="Prune"/> removes the ones unused for long.</summary>
    public void Touch(SnapshotTemplate template)
    {
        var now = DateTime.UtcNow;
        if (_touched.TryGetValue(template.Key, out var at) && now - at < s_touchEvery) return;
        _touched[template.Key] = now;
        try
        {
            File.SetLastWriteTimeUtc(Path.Combine(template.Directory, "identity"), now);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Deletes the templates (other than <paramref name="keep"/>) not used for <paramref name="maxIdle"/>:
    /// every new agent, kernel or QEMU build, and every RAM size, leaves one (~100+ MiB of disk). A template whose
    /// lock is held (being built) is left alone; clones still running from a deleted one keep their mapping.</summary>
    public int Prune(TimeSpan maxIdle, string? keep)
    {
        var removed = 0;
        if (!Directory.Exists(Root)) return 0;
        foreach (var dir in Directory.EnumerateDirectories(Root))
        {
            var key = Path.GetFileName(dir);
            if (key.Contains('.') || key == keep) continue;
            var identity = Path.Combine(dir, "identity");
            if (!File.Exists(identity) || DateTime.UtcNow - File.GetLastWriteTimeUtc(identity) < maxIdle) continue;
            FileStream? held = null;
            try
            {
                held = new FileStream(Path.Combine(Root, key + ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                Discard(new SnapshotTemplate(key, dir));
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
            finally
            {
                held?.Dispose();
            }
        }
        return removed;
    }

    /// <summary>The template key for a command line identity and the files it runs.</summary>
    public static string KeyFor(string identity, IEnumerable<string> files)
    {
        var text = new StringBuilder("sandbox-template-v2\n").Append(identity).Append('\n');
        foreach (var file in files)
        {
            var info = new FileInfo(file);
            text.Append(file).Append('\0').Append(info.Exists ? info.Length : -1).Append('\0')
                .Append(info.Exists ? info.LastWriteTimeUtc.Ticks : 0).Append('\n');
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..32];
    }

    /// <summary>The template if it is in place, else null.</summary>
    public SnapshotTemplate? TryGet(string key)
    {
        var template = new SnapshotTemplate(key, Path.Combine(Root, key));
        return File.Exists(template.StatePath) && File.Exists(template.RamPath) ? template : null;
    }

    /// <summary>Returns the template, building it with <paramref name="build"/> (which fills the directory it is given
    /// with "ram" and "state") under the key's lock when it is not in place yet.</summary>
    public async Task<SnapshotTemplate> GetOrBuildAsync(string key, string identity, Func<string, CancellationToken, Task> build,
        TimeSpan lockTimeout, CancellationToken cancellationToken)
    {
        if (TryGet(key) is { } ready) return ready;
        Directory.CreateDirectory(Root);
        await using var held = await LockAsync(Path.Combine(Root, key + ".lock"), lockTimeout, cancellationToken).ConfigureAwait(false);
        if (TryGet(key) is { } built) return built; // another builder finished while we waited
        // Leftovers of builders that died (we hold the lock: nobody else is building this key).
        foreach (var stale in Directory.EnumerateDirectories(Root, key + ".build-*"))
            TryDelete(stale);
        var work = Path.Combine(Root, $"{key}.build-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        File.SetUnixFileMode(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            await build(work, cancellationToken).ConfigureAwait(false);
            foreach (var name in new[] { "ram", "state" })
            {
                var path = Path.Combine(work, name);
                if (!File.Exists(path)) throw new SandboxException(SandboxErrorCode.Internal, $"the template build left no {name} file");
                using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
                f.Flush(flushToDisk: true);
            }
            await File.WriteAllTextAsync(Path.Combine(work, "identity"), identity.Replace('\n', ' ') + "\n", cancellationToken).ConfigureAwait(false);
            Directory.Move(work, Path.Combine(Root, key));
        }
        catch
        {
            TryDelete(work);
            throw;
        }
        return TryGet(key) ?? throw new SandboxException(SandboxErrorCode.Internal, $"template {key} vanished after it was built");
    }

    /// <summary>Moves a template out of the way (a rename, so restored clones keep their RAM mapping) and deletes it.</summary>
    public void Discard(SnapshotTemplate template)
    {
        var aside = Path.Combine(Root, $"{template.Key}.discarded-{Guid.NewGuid():N}");
        try
        {
            Directory.Move(template.Directory, aside);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return; // already gone (another process discarded it)
        }
        TryDelete(aside);
    }

    private static async Task<FileStream> LockAsync(string path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                // .NET takes flock(LOCK_EX | LOCK_NB) for FileShare.None on Unix: exclusive across processes and opens.
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw new SandboxException(SandboxErrorCode.Unavailable, $"the template lock {path} was held for over {timeout.TotalSeconds:0} s", e);
            }
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
