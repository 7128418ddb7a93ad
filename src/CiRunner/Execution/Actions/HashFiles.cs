using System.Text;
using Sandbox.Isolation;

namespace Sandbox.CiRunner.Execution.Actions;

/// <summary>hashFiles(patterns...) computed in the job's sandbox, on the workspace as the steps left it: the SHA-256
/// of each matched file (sorted by path), hashed together into one SHA-256; '' when nothing matches; '!' excludes.
/// Runs python3's glob (with ** recursive) inside the sandbox, so it needs python3 in the runner image.</summary>
public static class HashFiles
{
    private const string Script = """
        import glob, hashlib, os, sys
        inc, exc = [], []
        for arg in sys.argv[1:]:
            for p in arg.split('\n'):
                p = p.strip()
                if p: (exc if p.startswith('!') else inc).append(p.lstrip('!'))
        files = set()
        for p in inc:
            files.update(os.path.normpath(f) for f in glob.glob(p, recursive=True) if os.path.isfile(f))
        for p in exc:
            files.difference_update(os.path.normpath(f) for f in glob.glob(p, recursive=True))
        if files:
            h = hashlib.sha256()
            for f in sorted(files):
                with open(f, 'rb') as fh:
                    h.update(hashlib.sha256(fh.read()).digest())
            print(h.hexdigest())
        """;

    public static async Task<string> ComputeAsync(JobSession session, IReadOnlyList<string> patterns, CancellationToken cancellationToken)
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var status = await session.Sandbox.RunAsync(new ProcessSpec
        {
            Argv = ["python3", "-c", Script, .. patterns],
            // No timeout of its own: the job's timeout-minutes bounds it (a fixed one killed it under TCG on a busy host).
            WorkingDirectory = session.Layout.Workspace,
        }, stdout, stderr, cancellationToken).ConfigureAwait(false);
        if (status.ExitCode != 0)
            throw new StepFailedException($"hashFiles({string.Join(", ", patterns)}) failed with exit code {status.ExitCode}: {Encoding.UTF8.GetString(stderr.ToArray()).Trim()}");
        return Encoding.UTF8.GetString(stdout.ToArray()).Trim();
    }
}
