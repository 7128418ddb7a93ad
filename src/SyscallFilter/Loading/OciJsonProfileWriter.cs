using System.Text;
using System.Text.Json;

namespace Sandbox.SyscallFilter.Loading;

/// <summary>
/// Writes a profile as OCI runtime-spec <c>linux.seccomp</c> JSON with <see cref="Utf8JsonWriter"/> (AOT-safe).
/// Rules keep their order; note that libseccomp does not honour rule order, so a profile that relies on
/// first-match between overlapping rules of different actions for one syscall may mean something else there.
/// </summary>
internal static class OciJsonProfileWriter
{
    internal static string Write(SeccompProfile profile)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("defaultAction", ActionName(profile.DefaultAction));
            if (profile.DefaultAction.Kind == SeccompActionKind.Errno)
            {
                json.WriteNumber("defaultErrnoRet", profile.DefaultAction.Errno);
            }

            json.WriteStartArray("architectures");
            json.WriteStringValue("SCMP_ARCH_X86_64");
            json.WriteEndArray();
            json.WriteStartArray("syscalls");
            foreach (var rule in profile.Rules)
            {
                json.WriteStartObject();
                json.WriteStartArray("names");
                foreach (var name in rule.Names)
                {
                    json.WriteStringValue(name);
                }

                json.WriteEndArray();
                json.WriteString("action", ActionName(rule.Action));
                if (rule.Action.Kind == SeccompActionKind.Errno)
                {
                    json.WriteNumber("errnoRet", rule.Action.Errno);
                }

                if (rule.Conditions.Count > 0)
                {
                    json.WriteStartArray("args");
                    foreach (var condition in rule.Conditions)
                    {
                        json.WriteStartObject();
                        json.WriteNumber("index", condition.Index);
                        var masked = condition.Op == ArgOperator.MaskedEq;
                        json.WriteNumber("value", masked ? condition.Mask : condition.Value);
                        json.WriteNumber("valueTwo", masked ? condition.Value : 0UL);
                        json.WriteString("op", OperatorName(condition.Op));
                        json.WriteEndObject();
                    }

                    json.WriteEndArray();
                }

                if (rule.Comment is not null)
                {
                    json.WriteString("comment", rule.Comment);
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string ActionName(SeccompAction action) => action.Kind switch
    {
        SeccompActionKind.Allow => "SCMP_ACT_ALLOW",
        SeccompActionKind.Errno => "SCMP_ACT_ERRNO",
        SeccompActionKind.KillProcess => "SCMP_ACT_KILL_PROCESS",
        SeccompActionKind.KillThread => "SCMP_ACT_KILL_THREAD",
        SeccompActionKind.Trap => "SCMP_ACT_TRAP",
        SeccompActionKind.Log => "SCMP_ACT_LOG",
        _ => throw new InvalidOperationException($"unknown seccomp action kind {action.Kind}"),
    };

    private static string OperatorName(ArgOperator op) => op switch
    {
        ArgOperator.Eq => "SCMP_CMP_EQ",
        ArgOperator.Ne => "SCMP_CMP_NE",
        ArgOperator.Lt => "SCMP_CMP_LT",
        ArgOperator.Le => "SCMP_CMP_LE",
        ArgOperator.Gt => "SCMP_CMP_GT",
        ArgOperator.Ge => "SCMP_CMP_GE",
        ArgOperator.MaskedEq => "SCMP_CMP_MASKED_EQ",
        _ => throw new InvalidOperationException($"unknown argument operator {op}"),
    };
}
