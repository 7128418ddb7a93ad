using Sandbox.Isolation.Agent;

namespace Sandbox.Isolation.Tests;

/// <summary>A program the host runs as root (the bundle's launch helper) is refused when anyone else could replace it:
/// the file or a directory above it not root's, or writable by others (a sticky directory such as /tmp excepted).
/// Real files under a root-owned temporary directory; the test process is root.</summary>
public sealed class RootOwnedProgramTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sandbox-rootowned-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Program(string relative, UnixFileMode mode = (UnixFileMode)0b111_101_101)
    {
        var path = Path.Combine(_dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "#!/bin/sh\n");
        File.SetUnixFileMode(path, mode);
        return path;
    }

    [Fact]
    public void A_root_owned_program_in_root_owned_directories_is_accepted_by_its_real_path()
    {
        var program = Program("bin/helper");
        File.SetUnixFileMode(_dir, (UnixFileMode)0b111_101_101);
        Assert.Equal(program, RootOwnedProgram.Check(program));
        var link = Path.Combine(_dir, "link");
        File.CreateSymbolicLink(link, program);
        Assert.Equal(program, RootOwnedProgram.Check(link));
    }

    [Fact]
    public void A_program_others_may_write_is_refused_naming_it()
    {
        var program = Program("helper", (UnixFileMode)0b111_111_101);
        var e = Assert.Throws<SandboxException>(() => RootOwnedProgram.Check(program));
        Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
        Assert.Contains($"{program} is owned by uid 0 with mode 775", e.Message);
    }

    [Fact]
    public void A_directory_of_another_user_or_writable_by_others_without_the_sticky_bit_is_refused()
    {
        var program = Program("bundle/helper");
        var bundle = Path.GetDirectoryName(program)!;
        HostProgram.Run("chown", "65534", bundle);
        var e = Assert.Throws<SandboxException>(() => RootOwnedProgram.Check(program));
        Assert.Contains($"{bundle} is owned by uid 65534", e.Message);

        HostProgram.Run("chown", "0", bundle);
        File.SetUnixFileMode(bundle, (UnixFileMode)0b111_111_111);
        e = Assert.Throws<SandboxException>(() => RootOwnedProgram.Check(program));
        Assert.Contains($"{bundle} is owned by uid 0 with mode 777", e.Message);

        // The sticky bit (as /tmp has): others cannot rename or remove root's entries there.
        File.SetUnixFileMode(bundle, (UnixFileMode)0b1_111_111_111);
        Assert.Equal(program, RootOwnedProgram.Check(program));
    }
}
