using CsCheck;

using Sandbox.SyscallFilter.Tests.Compiling;
using Sandbox.SyscallFilter.Tests.Profiles.Docker;

namespace Sandbox.SyscallFilter.Tests.Profiles;

/// <summary>
/// "At least as strict as Docker's default": runs our compiled built-in profiles over every x86_64 syscall with
/// arguments aimed at every condition either side makes, and checks that whatever we allow, Docker's current default
/// profile (x86_64, no capabilities; test data in Profiles/Docker) allows too.
/// </summary>
public class DockerDefaultComparisonTests
{
    private const uint Allow = 0x7fff0000;
    private const uint X86_64 = 0xC000003E;

    private static readonly DockerAllowlist Docker = DockerAllowlist.Load();

    [Fact]
    public void DockerAllowlist_NamesOnlySyscallsOurTableKnows()
    {
        var unknown = Docker.Rules.Keys.Where(n => !SyscallTable.TryGetNumber(n, out _)).ToArray();
        Assert.True(unknown.Length == 0, $"not in our x86_64 table: {string.Join(", ", unknown)}");
        Assert.InRange(Docker.Rules.Count, 300, 400);
        Assert.Contains("uretprobe", Docker.Rules.Keys);          // the name that made importing Docker's profile fail
        Assert.Equal(3, Docker.Rules["socket"].Count);            // < AF_ALG, == 39, > AF_VSOCK
    }

    [Fact]
    public void DockersAllowlist_ImportsAsOciJson_AndCompilesToTheSameDecisions()
    {
        // Docker's shape: one entry with every unconditional name, one entry per conditional rule
        var unconditional = Docker.Rules.Where(r => r.Value.Any(c => c.Length == 0)).Select(r => r.Key).ToArray();
        var entries = new List<string> { $"{{\"names\":[{string.Join(",", unconditional.Select(n => $"\"{n}\""))}],\"action\":\"SCMP_ACT_ALLOW\"}}" };
        foreach (var (name, rules) in Docker.Rules.Where(r => r.Value.All(c => c.Length > 0)))
        {
            foreach (var conditions in rules)
            {
                var args = conditions.Select(c => c.Op == ArgOperator.MaskedEq
                    ? $"{{\"index\":{c.Index},\"value\":{c.Mask},\"valueTwo\":{c.Value},\"op\":\"SCMP_CMP_MASKED_EQ\"}}"
                    : $"{{\"index\":{c.Index},\"value\":{c.Value},\"op\":\"SCMP_CMP_{c.Op.ToString().ToUpperInvariant()}\"}}");
                entries.Add($"{{\"names\":[\"{name}\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{string.Join(",", args)}]}}");
            }
        }

        var json = $"{{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":1,\"syscalls\":[{string.Join(",", entries)}]}}";
        var program = SeccompCompiler.Compile(SeccompProfileLoader.FromOciJson(json, "docker-default.json"));

        foreach (var name in SyscallTable.Names)
        {
            ulong[][] inputs = [[0, 0, 0, 0, 0, 0], [38, 0, 0, 0, 0, 0], [40, 0, 0, 0, 0, 0], [0x1_0000_0026, 0, 0, 0, 0, 0], [0x10000000, 0, 0, 0, 0, 0]];
            foreach (var args in inputs)
            {
                var allowed = BpfInterpreter.Run(program.Instructions, (uint)SyscallTable.GetNumber(name), X86_64, args) == Allow;
                Assert.True(allowed == Docker.Allows(name, args), $"{name}(0x{args[0]:x}): compiled {allowed}, Docker's list {!allowed}");
            }
        }
    }

    [Theory]
    [InlineData("default")]
    [InlineData("strict")]
    public void EverythingWeAllow_DockerAllowsToo(string profileName)
    {
        var profile = SeccompProfiles.GetBuiltIn(profileName);
        var program = SeccompCompiler.Compile(profile);
        var violations = new List<string>();
        var checkedInputs = 0;

        foreach (var name in SyscallTable.Names)
        {
            var nr = (uint)SyscallTable.GetNumber(name);
            foreach (var args in Probes(profile, name))
            {
                checkedInputs++;
                if (BpfInterpreter.Run(program.Instructions, nr, X86_64, args) == Allow && !Docker.Allows(name, args))
                {
                    violations.Add($"{name}({string.Join(", ", args.Select(a => $"0x{a:x}"))})");
                }
            }
        }

        Assert.True(violations.Count == 0,
            $"{profileName} allows {violations.Count} calls Docker's default denies: {string.Join("; ", violations.Take(40))}");
        Assert.True(checkedInputs > SyscallTable.Names.Count * 5, $"only {checkedInputs} inputs checked");
    }

    [Fact]
    public void Default_RandomArguments_NeverAllowWhatDockerDenies()
    {
        var program = SeccompCompiler.Compile(SeccompProfiles.GetBuiltIn("default"));
        var names = SyscallTable.Names.ToArray();
        ulong[] edges = [0, 1, 38, 39, 40, 41, 0xffffffff, 0x1_0000_0000, ulong.MaxValue, 0x1_0000_0026,
            0xffffffff_00000028, 0x7e020000, 0x10000000, 0x5412, 0x1_0000_5412];
        var edge = Gen.Int[0, edges.Length - 1].Select(i => edges[i]);
        var arg = Gen.OneOf(edge, edge, Gen.ULong, Gen.ULong[0, 64]);
        Gen.Select(Gen.Int[0, names.Length - 1], arg.Array[6]).Sample((i, args) =>
        {
            var nr = (uint)SyscallTable.GetNumber(names[i]);
            return BpfInterpreter.Run(program.Instructions, nr, X86_64, args) != Allow || Docker.Allows(names[i], args);
        }, iter: 20_000);
    }

    [Fact]
    public void Default_ClosesWhatDockerClosed_AndWhatDockerDoesNotList()
    {
        var program = SeccompCompiler.Compile(SeccompProfiles.GetBuiltIn("default"));
        uint Run(string name, ulong arg0 = 0) =>
            BpfInterpreter.Run(program.Instructions, (uint)SyscallTable.GetNumber(name), X86_64, [arg0, 0, 0, 0, 0, 0]);

        Assert.Equal(0x50061u, Run("socket", 38));                        // AF_ALG -> EAFNOSUPPORT
        Assert.Equal(0x50061u, Run("socket", 0x1_0000_0026));             // ... with high bits, which Docker's 64-bit compare lets through
        Assert.True(Docker.Allows("socket", [0x1_0000_0026, 0, 0, 0, 0, 0]));
        Assert.Equal(0x50061u, Run("socket", 40));                        // AF_VSOCK
        Assert.Equal(Allow, Run("socket", 39));                           // AF_NFC, as Docker
        Assert.Equal(Allow, Run("socket", 44));                           // AF_XDP, as Docker: the netns decides
        Assert.Equal(0x50026u, Run("file_getattr"));                      // ENOSYS: callers fall back to the ioctl
        Assert.Equal(0x50026u, Run("file_setattr"));
        Assert.Equal(Allow, Run("uretprobe"));                            // only the kernel's trampoline can use it
        foreach (var name in new[] { "io_uring_setup", "clock_adjtime", "statmount", "listmount", "ptrace", "listns" })
        {
            Assert.NotEqual(Allow, Run(name));
        }
    }

    /// <summary>
    /// Argument vectors for one syscall: all six arguments 0, 1, U32_MAX, 2^32 or U64_MAX, and for each argument
    /// index either side tests, values on and around
    /// each constant (±1, with the high half set or cleared, each mask bit) while the other arguments are 0.
    /// </summary>
    private static IEnumerable<ulong[]> Probes(SeccompProfile profile, string name)
    {
        var conditions = profile.Rules.Where(r => r.Names.Contains(name)).SelectMany(r => r.Conditions)
            .Concat(Docker.Rules.TryGetValue(name, out var docker) ? docker.SelectMany(c => c) : []);
        ulong[] always = [0, 1, 0xffffffff, 0x1_0000_0000, ulong.MaxValue];
        foreach (var value in always)
        {
            yield return [value, value, value, value, value, value];
        }

        foreach (var byIndex in conditions.GroupBy(c => c.Index))
        {
            var values = new SortedSet<ulong>(always);
            foreach (var c in byIndex)
            {
                foreach (var v in Around(c.Value).Concat(c.Op == ArgOperator.MaskedEq ? MaskValues(c.Mask) : []))
                {
                    values.UnionWith(Around(v));
                }
            }

            foreach (var value in values)
            {
                var args = new ulong[6];
                args[byIndex.Key] = value;
                yield return args;
            }
        }
    }

    private static IEnumerable<ulong> Around(ulong v) =>
        [v, v - 1, v + 1, v | 0x1_0000_0000, v | 0xffffffff_00000000, v & 0xffffffff];

    private static IEnumerable<ulong> MaskValues(ulong mask)
    {
        yield return mask;
        yield return ~mask;
        for (var bit = 0; bit < 64; bit++)
        {
            if ((mask & (1UL << bit)) != 0)
            {
                yield return 1UL << bit;
            }
        }
    }
}
