namespace Sandbox.Isolation;

/// <summary>Which signal numbers a caller may send into a sandbox: the Linux ones, 1..64.</summary>
internal static class SignalNumbers
{
    public const int Max = 64;

    public static void Check(int signal)
    {
        if (signal is < 1 or > Max)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"signal {signal} is not a signal number: 1..{Max} are accepted");
    }
}
