using CsCheck;

namespace Sandbox.SyscallFilter.Tests.Compiling;

/// <summary>SeccompIntersection against the reference model: for random pairs of profiles with overlapping conditional
/// rules, the compiled intersection allows a call exactly when both profiles allow it, and a denial is the first
/// profile's action when it denies, else the second's.</summary>
public class SeccompIntersectionTests
{
    private const uint Allow = 0x7fff0000, Log = 0x7ffc0000;

    private static readonly IReadOnlyList<string> SmallPool =
        ["read", "write", "openat", "close", "mmap", "clone", "socket", "ioctl", "personality", "getpid", "uname", "execve"];

    private static bool Allows(uint ret) => ret is Allow or Log;

    private static uint Expected(uint first, uint second) =>
        !Allows(first) ? first : !Allows(second) ? second : first == Log || second == Log ? Log : Allow;

    [Fact]
    public void RandomPairs_AllowOnlyWhatBothAllow() =>
        Gen.Int.Sample(seed =>
        {
            var rng = new Random(seed);
            var first = RandomProfiles.Profile(rng, SmallPool, maxRules: 8, maxConditions: 2);
            var second = RandomProfiles.Profile(rng, SmallPool, maxRules: 8, maxConditions: 2);
            var both = SeccompIntersection.Intersect(first, second, "both");
            var program = SeccompCompiler.Compile(both);
            for (var i = 0; i < 200; i++)
            {
                var (nr, arch, args) = RandomProfiles.Input(rng, i % 2 == 0 ? first : second);
                var expected = Expected(ReferenceModel.Decide(first, nr, arch, args), ReferenceModel.Decide(second, nr, arch, args));
                var actual = BpfInterpreter.Run(program.Instructions, nr, arch, args);
                if (expected != actual)
                {
                    Assert.Fail($"nr {nr} args [{string.Join(", ", args.Select(a => $"0x{a:x}"))}]: expected 0x{expected:x}, got 0x{actual:x}\n"
                        + $"first:\n{SeccompProfileLoader.ToOciJson(first)}\nsecond:\n{SeccompProfileLoader.ToOciJson(second)}");
                }
            }
        }, iter: 200);
}
