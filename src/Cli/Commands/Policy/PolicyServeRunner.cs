using System.Net;
using Sandbox.Policy.Rego;
using Sandbox.PolicyServer;

namespace Sandbox.Cli.Commands.Policy;

/// <summary><c>sandbox policy serve</c>: a bundle over OPA's Data API (Kestrel) until cancelled.</summary>
public static class PolicyServeRunner
{
    public static async Task<int> RunAsync(string address, string? bundlePath, string? bearerToken, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (!IPEndPoint.TryParse(address, out var endpoint))
        {
            stderr.WriteLine($"--addr '{address}' is not an address:port (e.g. 127.0.0.1:8181)");
            return 2;
        }
        CompiledPolicy policy;
        try
        {
            policy = (bundlePath is null ? RegoBundle.LoadDefault() : RegoBundle.Load(bundlePath)).Compile();
        }
        catch (RegoCompileException e)
        {
            foreach (var err in e.Errors) stderr.WriteLine(err.ToString());
            return 1;
        }
        catch (RegoException e)
        {
            stderr.WriteLine(e.Error.ToString());
            return 1;
        }
        await using var server = new OpaDataApiServer(policy, new OpaServerOptions { Endpoint = endpoint, BearerToken = bearerToken });
        await server.StartAsync(cancellationToken).ConfigureAwait(false);
        stdout.WriteLine($"serving the policy bundle (revision {policy.Revision ?? "none"}) on http://{server.LocalEndpoint}/v1/data");
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        return 0;
    }
}
