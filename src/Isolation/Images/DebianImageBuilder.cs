using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Sandbox.Isolation.Images;

/// <summary>Builds a Debian base image with mmdebstrap from this machine's configured apt mirror (no registry
/// needed): a root-mode tarball without device nodes (the sandbox brings its own /dev), imported as a one-layer
/// image. A build is keyed by suite, packages and mirror: the same request again only adds the name.</summary>
public sealed class DebianImageBuilder(ImageStore store)
{
    /// <summary>Bumped when the recipe changes, so a changed recipe builds anew.</summary>
    private const string Recipe = "mmdebstrap-v2";

    /// <summary>The apt configuration every build carries (see <see cref="RootAptHooks"/>).</summary>
    public const string AptSandboxConfig = "/etc/apt/apt.conf.d/00sandbox-root";

    /// <summary>Root inside a sandbox has no capabilities (no CAP_SETUID, CAP_CHOWN or CAP_DAC_OVERRIDE), so two things
    /// apt does as root cannot work there: switching its download methods to the _apt user (setgroups/setresuid
    /// fail), and writing into its partial directories, which mmdebstrap leaves owned by _apt with mode 0700. The image
    /// tells apt to download as root (<c>APT::Sandbox::User "root"</c>, what apt itself falls back to where _apt does not
    /// exist) and gives those directories to root. Nothing else changes: the files are the image's, root's powers inside
    /// stop at owning them.</summary>
    private static readonly string[] RootAptHooks =
    [
        "--customize-hook=printf '%s\\n' '// sandbox: root inside has no CAP_SETUID, so apt cannot switch to _apt; downloads run as root' " +
            "'APT::Sandbox::User \"root\";' > \"$1\"" + AptSandboxConfig,
        "--customize-hook=chown root:root \"$1\"/var/lib/apt/lists/partial \"$1\"/var/cache/apt/archives/partial",
    ];

    private static readonly HashSet<string> s_suites = ["bookworm", "trixie", "bullseye"];

    public string MmdebstrapPath { get; init; } = "/usr/bin/mmdebstrap";

    public static string Key(string suite, IReadOnlyList<string> packages, string mirror)
        => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{Recipe}\n{suite}\n{string.Join(',', packages.Order())}\n{mirror}")))[..16];

    public async Task<ImageRecord> BuildAsync(string suite, IReadOnlyList<string> packages, string name, IProgress<string>? progress,
        CancellationToken cancellationToken)
    {
        if (!s_suites.Contains(suite))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"Debian suite '{suite}' is not one of {string.Join(", ", s_suites)}");
        foreach (var p in packages)
        {
            if (p.Length == 0 || !p.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '+' or '-'))
                throw new SandboxException(SandboxErrorCode.InvalidArgument, $"package name '{p}' is not a Debian package name (lowercase letters, digits, '.+-')");
        }
        ImageName.Parse(name);
        if (!File.Exists(MmdebstrapPath))
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"{MmdebstrapPath} is missing (apt-get install mmdebstrap)");
        var mirror = AptSources.FindMirror(suite)
            ?? throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"no apt source for Debian {suite} in /etc/apt/sources.list or /etc/apt/sources.list.d");
        var key = Key(suite, packages, mirror);
        var source = $"debian {suite} build {key}";
        if (store.List().FirstOrDefault(r => r.Source == source) is { } cached)
        {
            progress?.Report($"cached build {key}");
            return await store.TagAsync(cached.Id, name, cancellationToken).ConfigureAwait(false);
        }

        var work = Path.Combine(store.Root, "tmp", "build-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            var tarball = Path.Combine(work, "rootfs.tar");
            var args = new List<string> { "--mode=root", "--variant=apt", "--format=tar", "--skip=output/dev",
                // Keep the image small: no downloaded .debs, no package lists (apt-get update fetches them when needed).
                "--customize-hook=rm -rf \"$1\"/var/cache/apt/archives/*.deb \"$1\"/var/lib/apt/lists/*_Packages" };
            args.AddRange(RootAptHooks);
            if (packages.Count > 0)
                args.Add("--include=" + string.Join(',', packages));
            args.AddRange([suite, tarball, mirror]);
            progress?.Report($"mmdebstrap {suite} from the host's apt mirror");
            await RunAsync(args, progress, cancellationToken).ConfigureAwait(false);
            progress?.Report("importing");
            var record = await store.ImportAsync(tarball, name, progress, cancellationToken, new ImageDefaults
            {
                Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
                Cmd = ["/bin/bash"],
            }).ConfigureAwait(false);
            return await store.SetSourceAsync(record.Id, source, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private async Task RunAsync(List<string> args, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(MmdebstrapPath, args) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = Process.Start(start) ?? throw new SandboxException(SandboxErrorCode.Internal, "mmdebstrap did not start");
        var tail = new Queue<string>();
        async Task Pump(StreamReader reader)
        {
            while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            {
                lock (tail)
                {
                    tail.Enqueue(line);
                    if (tail.Count > 20)
                        tail.Dequeue();
                }
                progress?.Report("mmdebstrap: " + line);
            }
        }
        try
        {
            await Task.WhenAll(Pump(process.StandardError), Pump(process.StandardOutput)).ConfigureAwait(false);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        if (process.ExitCode != 0)
            throw new SandboxException(SandboxErrorCode.Internal, $"mmdebstrap exited with {process.ExitCode}: {string.Join("\n", tail)}");
    }
}
