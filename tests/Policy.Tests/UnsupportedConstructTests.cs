using Sandbox.Policy.Rego;

namespace Sandbox.Policy.Tests;

/// <summary>
/// Constructs outside the documented subset are refused when the bundle loads, with an error that names the
/// construct (never a wrong answer at evaluation time).
/// </summary>
public class UnsupportedConstructTests
{
    public static TheoryData<string, string, string> Cases() => new()
    {
        { "package t\nfoo[k](x) := x", "rego_parse_error", "ref heads of functions take only names" },
        { "package t\nf(_, _) := 1\np := y if { y := count([1]) with count as f }", "rego_type_error", "arities must match" },
        { "package t\np := y if { y := count([1]) with http.send as 1 }", "rego_type_error", "with keyword target http.send" },
        { "package t\np := crypto.x509.parse_and_verify_certificates_with_keys(\"x\", \"k\")", "rego_type_error", "undefined function crypto.x509.parse_and_verify_certificates_with_keys" },
        // Numbers past a double's range are exact integers (2e308); a fraction OPA would keep exactly is refused.
        { "package t\np := 1e-400", "rego_parse_error", "1e-400 is beyond the range of a double" },
        { "package t\np := 1e10001", "rego_parse_error", "not an integer of at most 10000 digits" },
        { "package t\np := uuid.rfc4122(\"k\")", "rego_type_error", "undefined function uuid.rfc4122" },
        { "package t\np := http.send({\"method\": \"get\", \"url\": \"http://x\"})", "rego_type_error", "undefined function http.send" },
        // Random numbers only when the compile options allow them (decisions stay deterministic by default).
        { "package t\np := rand.intn(\"k\", 10)", "rego_type_error", "undefined function rand.intn" },
        { "package t\np := net.lookup_ip_addr(\"localhost\")", "rego_type_error", "undefined function net.lookup_ip_addr" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void UnsupportedConstruct_IsRejectedAtLoadNamingIt(string module, string code, string named)
    {
        var e = Assert.Throws<RegoCompileException>(() => RegoBundle.FromFiles([("m.rego", module)]).Compile());
        Assert.Contains(e.Errors, err => err.Code == code && err.Message.Contains(named, StringComparison.Ordinal) && err.Location is not null);
    }
}
