using CsCheck;

namespace Sandbox.SyscallFilter.Tests.Compiling;

public class SeccompCompilerTests
{
    private static readonly IReadOnlyList<string> SmallPool =
        ["read", "write", "openat", "close", "mmap", "clone", "socket", "ioctl", "personality", "getpid", "uname", "execve"];

    private static void AssertAgrees(SeccompProfile profile, BpfProgram program, Random rng, int inputs)
    {
        BpfInterpreter.CheckStructure(program.Instructions);
        for (var i = 0; i < inputs; i++)
        {
            var (nr, arch, args) = RandomProfiles.Input(rng, profile);
            var expected = ReferenceModel.Decide(profile, nr, arch, args);
            var actual = BpfInterpreter.Run(program.Instructions, nr, arch, args);
            if (expected != actual)
            {
                Assert.Fail($"nr {nr} arch 0x{arch:x} args [{string.Join(", ", args.Select(a => $"0x{a:x}"))}]: "
                    + $"model says 0x{expected:x}, program returns 0x{actual:x}\nprofile:\n{SeccompProfileLoader.ToOciJson(profile)}\nprogram:\n{program.Disassemble()}");
            }
        }
    }

    [Fact]
    public void RandomProfiles_WithOverlappingRules_AgreeWithTheModel() =>
        Gen.Int.Sample(seed =>
        {
            var rng = new Random(seed);
            var profile = RandomProfiles.Profile(rng, SmallPool, maxRules: 12, maxConditions: 3);
            AssertAgrees(profile, SeccompCompiler.Compile(profile), rng, inputs: 200);
        }, iter: 400);

    [Fact]
    public void RandomProfiles_OverTheWholeTable_AgreeWithTheModel() =>
        Gen.Int.Sample(seed =>
        {
            var rng = new Random(seed);
            var profile = RandomProfiles.Profile(rng, SyscallTable.Names, maxRules: 120, maxConditions: 2);
            AssertAgrees(profile, SeccompCompiler.Compile(profile), rng, inputs: 300);
        }, iter: 60);

    [Fact]
    public void ManyConditionalRules_NeedTrampolines_AndStillAgree()
    {
        var rng = new Random(42);
        var rules = SyscallTable.Names.Where((_, i) => i % 2 == 0).Take(150)
            .Select((name, i) => new SeccompRule([name], RandomProfiles.RandomAction(rng), [RandomProfiles.RandomCondition(rng), RandomProfiles.RandomCondition(rng)]))
            .ToArray();
        var profile = new SeccompProfile("far", SeccompAction.FailWith(1), rules);
        var program = SeccompCompiler.Compile(profile);

        var farJumps = program.Instructions.Count(i => i.Code == SockFilter.Ja);
        Assert.True(program.InstructionCount > 1000, $"expected a large program, got {program.InstructionCount}");
        Assert.True(farJumps > 0, "expected ja trampolines for jumps beyond 255 instructions");
        AssertAgrees(profile, program, rng, inputs: 20_000);
    }

    [Fact]
    public void AlternatingActionsOnEverySyscall_MakeADeepTree_AndStillAgree()
    {
        var rules = SyscallTable.Names.Select((name, i) => new SeccompRule([name], SeccompAction.FailWith(1 + (i % 200))))
            .ToArray();
        var profile = new SeccompProfile("deep", SeccompAction.Allow, rules);
        var program = SeccompCompiler.Compile(profile);
        AssertAgrees(profile, program, new Random(7), inputs: 5_000);
        for (var nr = 0u; nr <= SyscallTable.MaxNumber + 2; nr++)
        {
            Assert.Equal(ReferenceModel.Decide(profile, nr, 0xC000003E, new ulong[6]), BpfInterpreter.Run(program.Instructions, nr, 0xC000003E, new ulong[6]));
        }
    }

    [Theory]
    [InlineData(ArgOperator.Eq)]
    [InlineData(ArgOperator.Ne)]
    [InlineData(ArgOperator.Lt)]
    [InlineData(ArgOperator.Le)]
    [InlineData(ArgOperator.Gt)]
    [InlineData(ArgOperator.Ge)]
    [InlineData(ArgOperator.MaskedEq)]
    public void EveryOperator_ComparesBoth64BitHalves(ArgOperator op)
    {
        ulong[] edges = [0, 1, 0xfffffffe, 0xffffffff, 0x100000000, 0x100000001, 0x1ffffffff, 0x200000000, 0xffffffff00000000, ulong.MaxValue - 1, ulong.MaxValue];
        foreach (var value in edges)
        {
            var mask = op == ArgOperator.MaskedEq ? 0xffffffff0000ffffUL : 0;
            var condition = new ArgCondition(3, op, op == ArgOperator.MaskedEq ? value & mask : value, mask);
            var profile = new SeccompProfile("op", SeccompAction.FailWith(1), [new SeccompRule(["getpid"], SeccompAction.Allow, [condition])]);
            var program = SeccompCompiler.Compile(profile);
            foreach (var arg in edges.Concat(edges.Select(e => e ^ 0x10000)))
            {
                var args = new ulong[6];
                args[3] = arg;
                var expected = condition.IsSatisfiedBy(arg) ? 0x7fff0000u : 0x50001u;
                Assert.Equal(expected, BpfInterpreter.Run(program.Instructions, 39, 0xC000003E, args));
            }
        }
    }

    [Theory]
    [InlineData(0x40000000u)]
    [InlineData(0x40000027u)] // x32 getpid
    [InlineData(0x400001ffu)]
    [InlineData(0xffffffffu)]
    public void X32Numbers_AreKilled_EvenWhenTheDefaultAllows(uint nr)
    {
        var program = SeccompCompiler.Compile(new SeccompProfile("allow-all", SeccompAction.Allow, []));
        Assert.Equal(0x80000000u, BpfInterpreter.Run(program.Instructions, nr, 0xC000003E, new ulong[6]));
    }

    [Theory]
    [InlineData(0x40000003u)] // i386
    [InlineData(0xC00000B7u)] // aarch64
    [InlineData(0u)]
    public void ForeignArchitectures_AreKilled(uint arch)
    {
        var program = SeccompCompiler.Compile(new SeccompProfile("allow-all", SeccompAction.Allow, []));
        Assert.Equal(0x80000000u, BpfInterpreter.Run(program.Instructions, 39, arch, new ulong[6]));
    }

    [Fact]
    public void TinyProfile_CompilesToTheExpectedListing()
    {
        var profile = SeccompProfileLoader.FromYaml("""
            default_action: errno(EPERM)
            rules:
              - names: [read]
                action: allow
              - names: [write]
                action: allow
                args:
                  - { index: 0, op: eq, value: 1 }
            """, "tiny.yaml");

        var listing = SeccompCompiler.Compile(profile).Disassemble();

        // arch check, x32 check, then the search tree: nr < 1 (read) -> allow; 1 <= nr < 2 (write) -> the
        // args[0] == 1 chain (high half, then low half); nr >= 2 -> default. One shared ret per action.

        Assert.Equal("""
            (000) ld [4]  ; arch
            (001) jeq #0xc000003e jt 3 jf 2
            (002) ret #0x80000000  ; kill_process
            (003) ld [0]  ; nr
            (004) jge #0x40000000 jt 5 jf 6
            (005) ret #0x80000000  ; kill_process
            (006) jge #0x1 jt 7 jf 13
            (007) jge #0x2 jt 12 jf 8
            (008) ld [20]  ; args[0] high
            (009) jeq #0x0 jt 10 jf 12
            (010) ld [16]  ; args[0] low
            (011) jeq #0x1 jt 13 jf 12
            (012) ret #0x50001  ; errno(1)
            (013) ret #0x7fff0000  ; allow

            """.ReplaceLineEndings("\n"), listing);
    }

    [Fact]
    public void ProgramOverTheKernelLimit_IsRejectedWithTheCount()
    {
        var rules = SyscallTable.Names.Select((name, i) => new SeccompRule([name], SeccompAction.Allow,
            [new ArgCondition(0, ArgOperator.Eq, (ulong)i), new ArgCondition(1, ArgOperator.Eq, 2), new ArgCondition(2, ArgOperator.Eq, 3)])).ToArray();
        var error = Assert.Throws<SeccompProfileException>(() => SeccompCompiler.Compile(new SeccompProfile("huge", SeccompAction.FailWith(1), rules)));
        Assert.Contains("over the kernel's limit of 4096", error.Message);
        Assert.Matches(@"has \d{4,} instructions", error.Message);
    }

    [Fact]
    public void InvalidProfile_IsRejectedByTheCompilerToo()
    {
        var profile = new SeccompProfile("bad", SeccompAction.FailWith(1), [new SeccompRule(["read", "nosuchcall"], SeccompAction.Allow)]);
        var error = Assert.Throws<SeccompProfileException>(() => SeccompCompiler.Compile(profile));
        Assert.Contains("rules[0].names[1]: unknown syscall 'nosuchcall' for x86_64", error.Message);
    }

    [Fact]
    public void Program_BytesAreSockFiltersLittleEndian_AndDigestIsTheirSha256()
    {
        var program = SeccompCompiler.Compile(new SeccompProfile("allow-all", SeccompAction.Allow, []));
        var bytes = program.ToBytes();
        Assert.Equal(program.InstructionCount * 8, bytes.Length);
        Assert.Equal(new byte[] { 0x20, 0, 0, 0, 4, 0, 0, 0 }, bytes[..8]);                  // ld [4]
        Assert.Equal(new byte[] { 0x15, 0, 1, 0, 0x3e, 0, 0, 0xc0 }, bytes[8..16]);         // jeq AUDIT_ARCH_X86_64 jt 1 jf 0
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), program.Sha256);
        // The managed digest against OpenSSL's on a program of many blocks too.
        var large = SeccompCompiler.Compile(SeccompProfiles.GetBuiltIn("default"));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(large.ToBytes())), large.Sha256);
        bytes[0] = 0xff;
        Assert.NotEqual(0xff, program.ToBytes()[0]);
    }
}
