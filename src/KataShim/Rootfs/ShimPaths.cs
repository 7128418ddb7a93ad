namespace Sandbox.KataShim.Rootfs;

/// <summary>The shim's own host state, per containerd namespace and container id (both validated by containerd as
/// identifiers: no '/' or '..'). Every directory on the way is 0711: the sandbox's host uid must traverse to the
/// root it reads, and nobody but root may list it.</summary>
internal static class ShimPaths
{
    public const string StateRoot = "/run/sandbox-shim";

    public static string ContainerDir(string ns, string id) => Path.Combine(StateRoot, Checked(ns), Checked(id));

    public static string RootfsFor(string ns, string id) => Path.Combine(ContainerDir(ns, id), "rootfs");

    public static void CreateTraversable(string dir)
    {
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        var parts = dir.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var path = "";
        foreach (var part in parts)
        {
            path += "/" + part;
            if (!Directory.Exists(path))
                Directory.CreateDirectory(path, mode);
            else if (path.StartsWith(StateRoot, StringComparison.Ordinal))
                File.SetUnixFileMode(path, mode);
        }
    }

    private static string Checked(string name) =>
        name.Length > 0 && name != "." && name != ".." && !name.Contains('/') && !name.Contains('\0')
            ? name
            : throw new Isolation.SandboxException(Isolation.SandboxErrorCode.InvalidArgument, $"'{name}' is not a valid containerd identifier");
}
