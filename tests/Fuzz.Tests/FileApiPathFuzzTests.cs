using Sandbox.Isolation;

namespace Sandbox.Fuzz.Tests;

/// <summary>File-API paths and sandbox ids as callers send them: validation never throws, and what it accepts is
/// what the agent's confinement expects (absolute, no '..' segment, no NUL; ids of [a-z0-9-]).</summary>
[Collection("fuzz")]
public sealed class FileApiPathFuzzTests
{
    private static readonly string[] s_paths = ["/work/a.txt", "/work/dir/sub/file", "/", "/tmp/x y", "/work/ünï"];
    private static readonly string[] s_pathTokens = ["/", "..", ".", "//", "\0", "\\", "%2e%2e", "\n", "~", "/proc/self/root", "\u202e", "a"];

    [Fact]
    public void Paths() =>
        FuzzHarness.RunText("file-api paths", Mutations.Text(s_paths, s_pathTokens, maxLength: 8192), path =>
        {
            var errors = new List<string>();
            SpecValidator.CheckSandboxPath(path, "path", errors);
            if (errors.Count == 0)
            {
                Assert.StartsWith("/", path);
                Assert.DoesNotContain('\0', path);
                Assert.DoesNotContain("..", path.Split('/'));
            }
        }, []);

    [Fact]
    public void SandboxIds() =>
        FuzzHarness.RunText("sandbox ids", Mutations.Text(["sb-0123456789abcdef", "a", "x-1"], ["-", "A", "/", "..", "\0", "é"], maxLength: 256), text =>
        {
            if (SandboxId.TryParse(text, out var id))
            {
                Assert.Equal(text, id.Value);
                Assert.True(text.Length <= SandboxId.MaxLength && text.All(c => c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-'));
            }
            else
            {
                Assert.Equal(SandboxErrorCode.InvalidArgument, Assert.Throws<SandboxException>(() => SandboxId.Parse(text)).Code);
            }
        }, []);
}

[CollectionDefinition("fuzz", DisableParallelization = true)]
public sealed class FuzzCollection;
