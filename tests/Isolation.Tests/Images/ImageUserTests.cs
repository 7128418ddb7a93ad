using Sandbox.Isolation.Images;

namespace Sandbox.Isolation.Tests.Images;

/// <summary>The image config's User as a sandbox user: numbers as they are, names from the image's own tables, never
/// through a link (which on the host would lead to the host's tables).</summary>
public sealed class ImageUserTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("image-user-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private void Tables(string passwd, string group)
    {
        Directory.CreateDirectory(Path.Combine(_root, "etc"));
        File.WriteAllText(Path.Combine(_root, "etc/passwd"), passwd);
        File.WriteAllText(Path.Combine(_root, "etc/group"), group);
    }

    [Theory]
    [InlineData("0", 0, 0)]
    [InlineData("1000", 1000, 1000)]
    [InlineData("1000:7", 1000, 7)]
    [InlineData("500", 500, 501)] // a uid with a passwd entry takes its gid
    [InlineData("app", 500, 501)]
    [InlineData("app:wheel", 500, 10)]
    [InlineData("root", 0, 0)]
    public void Resolves_numbers_and_the_images_own_names(string user, int uid, int gid)
    {
        Tables("root:x:0:0::/root:/bin/sh\napp:x:500:501::/home/app:/bin/sh\n", "root:x:0:\nwheel:x:10:\n");
        Assert.Equal(new SandboxUser(uid, gid), ImageUser.Resolve(user, _root));
    }

    [Theory]
    [InlineData("ghost", "'ghost' is not in the image's /etc/passwd")]
    [InlineData("app:ghosts", "group 'ghosts' is not in the image's /etc/group")]
    [InlineData("65535", "id 65535 is outside the sandbox's ids 0..65534")]
    [InlineData("1:99999", "id 99999 is outside")]
    [InlineData(":1", "must be USER|UID[:GROUP|GID]")]
    [InlineData("1:", "must be USER|UID[:GROUP|GID]")]
    public void Refuses_what_it_cannot_resolve_naming_the_users_value(string user, string message)
    {
        Tables("app:x:500:501::/home/app:/bin/sh\n", "wheel:x:10:\n");
        var e = Assert.Throws<SandboxException>(() => ImageUser.Resolve(user, _root));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        Assert.Contains($"User '{user}'", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_table_that_is_a_link_is_never_followed_to_the_hosts()
    {
        // The host's /etc/passwd has root and daemon; the image's is a link to it.
        Directory.CreateDirectory(Path.Combine(_root, "etc"));
        File.CreateSymbolicLink(Path.Combine(_root, "etc/passwd"), "/etc/passwd");
        var e = Assert.Throws<SandboxException>(() => ImageUser.Resolve("daemon", _root));
        Assert.Contains("'daemon' is not in the image's /etc/passwd", e.Message);

        // Nor an /etc that is a link.
        Directory.Delete(Path.Combine(_root, "etc"), recursive: true);
        Directory.CreateSymbolicLink(Path.Combine(_root, "etc"), "/etc");
        Assert.Throws<SandboxException>(() => ImageUser.Resolve("daemon", _root));
        // A number needs no table.
        Assert.Equal(new SandboxUser(1, 1), ImageUser.Resolve("1", _root));
    }
}
