using System.Diagnostics;

namespace Sandbox.CiRunner.Execution.Actions;

/// <summary>actions/checkout: the run's source directory copied into the workspace (or <c>with.path</c> under it),
/// streamed as a tar. In a git work tree: tracked files plus untracked ones not ignored, without .git (no history
/// inside the sandbox; GITHUB_SHA says which commit).</summary>
public static class CheckoutAction
{
    public static async Task RunAsync(JobSession session, StepResult step, IReadOnlyDictionary<string, string> with, CancellationToken cancellationToken)
    {
        var target = session.ResolvePath(with.GetValueOrDefault("path") ?? "");
        if (!target.StartsWith(RunnerLayout.Work + "/", StringComparison.Ordinal))
            throw new StepFailedException($"actions/checkout: path '{with["path"]}' must stay under {RunnerLayout.Work}");
        var sw = Stopwatch.StartNew();
        var files = HostDirectoryTar.CheckoutFiles(session.Run.WorkspaceSource);
        await session.ImportFilesAsync(session.Run.WorkspaceSource, files, target, line => session.Log(step, "checkout: " + line), cancellationToken).ConfigureAwait(false);
        session.CheckoutTime += sw.Elapsed;
        session.Log(step, $"checked out {files.Count} files of {session.Run.Repository} at {session.Run.Sha[..Math.Min(12, session.Run.Sha.Length)]} into {target}");
    }
}
