using System.Text.RegularExpressions;

namespace Sandbox.Isolation.Images;

/// <summary>A local image name, NAME:TAG (":latest" when no tag is given). NAME is lowercase letters, digits and
/// <c>. _ - /</c>, optionally led by a registry HOST[:PORT]/ as pulled images are named; TAG is at most 128 of
/// <c>[A-Za-z0-9_.-]</c>, not starting with '.' or '-'.</summary>
public readonly partial record struct ImageName(string Repository, string Tag)
{
    public override string ToString() => Repository + ":" + Tag;

    public static ImageName Parse(string value)
    {
        var slash = value.LastIndexOf('/');
        var colon = value.LastIndexOf(':');
        var (repository, tag) = colon > slash ? (value[..colon], value[(colon + 1)..]) : (value, "latest");
        if (repository.Length is 0 or > 255 || !RepositoryPattern().IsMatch(repository) || !TagPattern().IsMatch(tag))
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"image name '{value}' is not NAME[:TAG]: NAME is lowercase letters, digits and '._-/' (optionally " +
                "led by HOST[:PORT]/), TAG up to 128 of letters, digits and '_.-' not starting with '.' or '-'");
        return new ImageName(repository, tag);
    }

    [GeneratedRegex(@"^([a-zA-Z0-9.-]+(:[0-9]{1,5})?/)?[a-z0-9]+([._/-][a-z0-9]+|__[a-z0-9]+)*$")]
    private static partial Regex RepositoryPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();
}
