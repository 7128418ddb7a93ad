using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm.Qmp;

namespace Sandbox.Fuzz.Tests;

/// <summary>QMP replies (QEMU runs the guest: treat what it says as untrusted): connecting and a query must end with
/// the answer, a QmpException (an error reply) or a SandboxException naming what is wrong.</summary>
[Collection("fuzz")]
public sealed class QmpFuzzTests
{
    private const string Greeting = """{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 8}, "package": ""}, "capabilities": []}}""";

    private static readonly string[] s_sessions =
    [
        Greeting + "\r\n{\"return\": {}}\r\n{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}\r\n",
        Greeting + "\r\n{\"return\": {}}\r\n{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}\r\n{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}\r\n",
        Greeting + "\r\n{\"return\": {}, \"id\": 1}\r\n{\"return\": {\"status\": \"paused\", \"running\": false}}\r\n",
    ];

    [Fact]
    public void Replies() =>
        FuzzHarness.RunText("qmp", Mutations.Text(s_sessions, Corpus.YamlJsonTokens), text =>
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var qmp = QmpClient.ConnectAsync(new ScriptedStream(bytes, bytes.Length), timeout.Token).GetAwaiter().GetResult();
            try
            {
                qmp.QueryStatusAsync(timeout.Token).GetAwaiter().GetResult();
            }
            finally
            {
                qmp.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }, [typeof(QmpException), typeof(SandboxException)]);
}
