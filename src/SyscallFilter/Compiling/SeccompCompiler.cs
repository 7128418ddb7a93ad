using Sandbox.SyscallFilter.Compiling;
using Sandbox.SyscallFilter.Loading;

namespace Sandbox.SyscallFilter;

/// <summary>Compiles a <see cref="SeccompProfile"/> to a classic BPF seccomp filter for x86_64.</summary>
public static class SeccompCompiler
{
    /// <summary>
    /// Validates and compiles <paramref name="profile"/>. Throws <see cref="SeccompProfileException"/> when the
    /// profile is invalid or the program would exceed <see cref="BpfProgram.MaxInstructions"/>.
    /// </summary>
    public static BpfProgram Compile(SeccompProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var source = $"profile '{profile.Name}'";
        SeccompProfileValidator.ThrowIfInvalid(profile, source);
        var instructions = BpfEmitter.Emit(Lowering.Lower(profile));
        if (instructions.Length > BpfProgram.MaxInstructions)
        {
            throw new SeccompProfileException(source,
            [
                new SeccompProfileError(source, "",
                    $"the compiled filter has {instructions.Length} instructions, over the kernel's limit of {BpfProgram.MaxInstructions} (BPF_MAXINSNS); merge rules or drop argument conditions"),
            ]);
        }

        return new BpfProgram(instructions);
    }
}
