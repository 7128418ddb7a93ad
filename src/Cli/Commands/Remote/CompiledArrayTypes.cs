using System.Reflection;
using System.Runtime.Versioning;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>Array types that Grpc.Net.Client's user-agent string asks reflection for (GetCustomAttributes&lt;T&gt;() on
/// its assembly and, through RuntimeInformation.FrameworkDescription, on CoreLib's), made here so that the NativeAOT
/// compiler builds them into the binary. Otherwise the runtime's type loader builds each one when the first channel is
/// made: about half of that user-agent string's cost, itself a tenth of `sandbox run`'s client CPU (README
/// "Benchmarks"; ILC's substitutions, which could have stubbed the string, take only int and bool).</summary>
internal static class CompiledArrayTypes
{
    private static readonly Array[] s_types = [Array.Empty<AssemblyInformationalVersionAttribute>(), Array.Empty<TargetFrameworkAttribute>()];

    /// <summary>Called before a channel is made: keeps the arrays' types in the compiled program.</summary>
    public static void Keep() => GC.KeepAlive(s_types);
}
