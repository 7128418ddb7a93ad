using System.Security.Cryptography;
using System.Text;
using Sandbox.Isolation;

namespace Sandbox.CiRunner.Execution.Actions;

/// <summary>actions/cache on the host: <c>CACHE/SCOPE/sha256(key)/N.tar</c>, one tar per path. Restored when the
/// step runs (exact key, else the newest entry whose key starts with a <c>restore-keys</c> line; output
/// <c>cache-hit</c>), saved after the job's steps when it succeeded and the key was not hit. Scopes keep trust levels
/// apart: a job writes only its own trust's scope and reads its own, then the trusted one — so a fork's pull request
/// can never plant a cache entry a trusted job will restore (cache poisoning).</summary>
public static class CacheAction
{
    public static async Task RunAsync(JobSession session, StepResult step, IReadOnlyDictionary<string, string> with, CancellationToken cancellationToken)
    {
        var key = with.GetValueOrDefault("key") ?? throw new StepFailedException("actions/cache: 'key' is required");
        var paths = (with.GetValueOrDefault("path") ?? "").Split('\n').Select(p => p.Trim()).Where(p => p.Length > 0).ToList();
        if (paths.Count == 0)
            throw new StepFailedException("actions/cache: 'path' is required (directories, one per line)");
        if (paths.Any(p => p.IndexOfAny(['*', '?', '[', '!']) >= 0))
            throw new StepFailedException("actions/cache: glob patterns in 'path' are not implemented; list directories");
        var trust = session.Result.Decision?.Trust ?? "unknown";
        var own = Scope(session, trust);
        var restoreKeys = (with.GetValueOrDefault("restore-keys") ?? "").Split('\n').Select(p => p.Trim()).Where(p => p.Length > 0).ToList();
        var scopes = trust == "trusted" ? [own] : new[] { own, Scope(session, "trusted") };
        var (entry, exact) = Find(scopes, key, restoreKeys);
        step.Outputs["cache-hit"] = exact ? "true" : "false";
        if (entry is not null)
        {
            for (var i = 0; i < paths.Count; i++)
            {
                var tarFile = Path.Combine(entry, $"{i}.tar");
                if (!File.Exists(tarFile)) continue;
                await using var tar = new FileStream(tarFile, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
                var target = session.ResolvePath(paths[i]);
                await MakeParentsAsync(session, target, cancellationToken).ConfigureAwait(false);
                await session.Sandbox.ImportTarAsync(target, tar, cancellationToken).ConfigureAwait(false);
            }
            session.Log(step, $"cache restored from key '{File.ReadAllText(Path.Combine(entry, "key"))}'{(exact ? "" : " (a restore-keys match)")}");
        }
        else
            session.Log(step, $"cache not found for key '{key}'");
        if (exact) return;
        session.PostSteps.Add(async ct =>
        {
            var dir = Path.Combine(own, Hash(key));
            var staging = dir + ".partial-" + Guid.NewGuid().ToString("N");
            Directory.CreateDirectory(staging);
            try
            {
                for (var i = 0; i < paths.Count; i++)
                {
                    var full = session.ResolvePath(paths[i]);
                    if (await ArtifactActions.KindOfAsync(session, full, ct).ConfigureAwait(false) != SandboxFileKind.Directory) continue;
                    await using var tar = new FileStream(Path.Combine(staging, $"{i}.tar"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
                    await session.Sandbox.ExportTarAsync(full, tar, ct).ConfigureAwait(false);
                }
                await File.WriteAllTextAsync(Path.Combine(staging, "key"), key, ct).ConfigureAwait(false);
                if (Directory.Exists(dir)) Directory.Delete(dir, true);
                Directory.Move(staging, dir);
                session.Log(null, $"cache saved with key '{key}'");
            }
            finally
            {
                if (Directory.Exists(staging)) Directory.Delete(staging, true);
            }
        });
    }

    /// <summary>The directories on the way to a restore target under HOME (~/.nuget of ~/.nuget/packages): the import
    /// makes only the target itself, so they come first, as directory entries of a tar imported at HOME (existing ones
    /// are left as they are). A target elsewhere must have its parent already.</summary>
    private static async Task MakeParentsAsync(JobSession session, string target, CancellationToken cancellationToken)
    {
        if (!target.StartsWith(RunnerLayout.Home + "/", StringComparison.Ordinal))
            return;
        var parts = target[(RunnerLayout.Home.Length + 1)..].Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2)
            return;
        var tar = new TarBuilder();
        for (var i = 1; i < parts.Length; i++)
            tar.Directory(string.Join('/', parts[..i]) + "/");
        using var stream = tar.Build();
        await session.Sandbox.ImportTarAsync(RunnerLayout.Home, stream, cancellationToken).ConfigureAwait(false);
    }

    private static string Scope(JobSession session, string trust) =>
        Path.Combine(session.Run.CacheDirectory, Hash(session.Run.Repository)[..16], trust);

    private static (string? Entry, bool Exact) Find(IEnumerable<string> scopes, string key, List<string> restoreKeys)
    {
        foreach (var scope in scopes)
        {
            var exact = Path.Combine(scope, Hash(key));
            if (File.Exists(Path.Combine(exact, "key"))) return (exact, true);
        }
        foreach (var prefix in restoreKeys)
            foreach (var scope in scopes)
            {
                if (!Directory.Exists(scope)) continue;
                var match = Directory.EnumerateDirectories(scope)
                    .Where(d => File.Exists(Path.Combine(d, "key")) && File.ReadAllText(Path.Combine(d, "key")).StartsWith(prefix, StringComparison.Ordinal))
                    .OrderByDescending(d => Directory.GetLastWriteTimeUtc(d)).FirstOrDefault();
                if (match is not null) return (match, false);
            }
        return (null, false);
    }

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
