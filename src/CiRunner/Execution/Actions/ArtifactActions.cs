using Sandbox.Isolation;

namespace Sandbox.CiRunner.Execution.Actions;

/// <summary>actions/upload-artifact and actions/download-artifact, between jobs of a run and out to --artifacts:
/// every file crosses as a stream (a tar for a directory), never a whole-file buffer. <c>path</c> lists files and
/// directories (one per line, relative to the workspace); a directory's contents land at the artifact's root, a file
/// under its own name. Glob patterns are not implemented and are refused by name.</summary>
public static class ArtifactActions
{
    public static async Task UploadAsync(JobSession session, StepResult step, IReadOnlyDictionary<string, string> with, CancellationToken cancellationToken)
    {
        var name = with.GetValueOrDefault("name") is { Length: > 0 } n ? n : "artifact";
        var paths = (with.GetValueOrDefault("path") ?? "").Split('\n').Select(p => p.Trim()).Where(p => p.Length > 0).ToList();
        if (paths.Count == 0)
            throw new StepFailedException("actions/upload-artifact: 'path' is required (files or directories, one per line)");
        var ifNone = with.GetValueOrDefault("if-no-files-found") ?? "warn";
        var overwrite = with.GetValueOrDefault("overwrite") is { } o && o.Equals("true", StringComparison.OrdinalIgnoreCase);
        string destination;
        try
        {
            destination = session.Artifacts.Claim(name, session.Result.Name, overwrite);
        }
        catch (ArgumentException e)
        {
            throw new StepFailedException("actions/upload-artifact: " + e.Message);
        }
        var found = 0;
        foreach (var path in paths)
        {
            if (path.IndexOfAny(['*', '?', '[']) >= 0 || path.StartsWith('!'))
                throw new StepFailedException($"actions/upload-artifact: path '{path}' is a glob pattern; this runner takes files and directories only");
            var full = session.ResolvePath(path);
            var kind = await KindOfAsync(session, full, cancellationToken).ConfigureAwait(false);
            if (kind == SandboxFileKind.Directory)
            {
                await TarPipe.TransferAsync(
                    (tar, ct) => session.Sandbox.ExportTarAsync(full, tar, ct),
                    (tar, ct) => HostDirectoryTar.ExtractAsync(tar, destination, ct),
                    cancellationToken).ConfigureAwait(false);
                found++;
            }
            else if (kind == SandboxFileKind.File)
            {
                Directory.CreateDirectory(destination);
                await using var file = new FileStream(Path.Combine(destination, Path.GetFileName(full)), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
                await session.Sandbox.ReadFileToAsync(full, file, long.MaxValue, cancellationToken).ConfigureAwait(false);
                found++;
            }
            else
                session.Log(step, $"upload-artifact: no file or directory at '{path}' ({full})");
        }
        if (found == 0)
        {
            var message = $"upload-artifact: no files were found with the provided path: {string.Join(", ", paths)}";
            if (ifNone == "error") throw new StepFailedException(message);
            if (ifNone == "warn") session.Log(step, "warning: " + message + ". No artifacts will be uploaded.");
            return;
        }
        session.Log(step, $"artifact '{name}' uploaded ({found} path(s)) to {destination}");
    }

    public static async Task DownloadAsync(JobSession session, StepResult step, IReadOnlyDictionary<string, string> with, CancellationToken cancellationToken)
    {
        var target = session.ResolvePath(with.GetValueOrDefault("path") ?? "");
        if (with.GetValueOrDefault("name") is { Length: > 0 } name)
        {
            var source = session.Artifacts.PathOf(name);
            if (!Directory.Exists(source))
                throw new StepFailedException($"actions/download-artifact: no artifact named '{name}' in this run (have: {string.Join(", ", session.Artifacts.Names)})");
            await ImportAsync(session, source, target, cancellationToken).ConfigureAwait(false);
            session.Log(step, $"artifact '{name}' downloaded to {target}");
            return;
        }
        foreach (var each in session.Artifacts.Names.ToList())
        {
            await ImportAsync(session, session.Artifacts.PathOf(each), $"{target}/{each}", cancellationToken).ConfigureAwait(false);
            session.Log(step, $"artifact '{each}' downloaded to {target}/{each}");
        }
    }

    private static Task ImportAsync(JobSession session, string source, string target, CancellationToken cancellationToken) =>
        session.ImportFilesAsync(source, HostDirectoryTar.AllFiles(source), target, _ => { }, cancellationToken);

    /// <summary>What is at a sandbox path (symlinks reported, never followed); null when nothing is.</summary>
    internal static async Task<SandboxFileKind?> KindOfAsync(JobSession session, string path, CancellationToken cancellationToken) =>
        (await session.Sandbox.StatAsync(path, cancellationToken).ConfigureAwait(false))?.Kind;
}
