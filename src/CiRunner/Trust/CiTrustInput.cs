using System.Text.Json.Nodes;

namespace Sandbox.CiRunner.Trust;

/// <summary>The CI policy's input for one job: who triggered the run and what the job asks for. Everything here comes
/// from the run's trigger (the command line, or the service that received the webhook), except the job id, its
/// <c>runs-on</c> labels and the egress it requests, which the workflow file may set but the policy only filters.</summary>
public sealed record CiTrustInput
{
    public required string Event { get; init; }
    public bool Fork { get; init; }
    public required string Ref { get; init; }
    public required string Actor { get; init; }
    public required string Repository { get; init; }
    public required string Job { get; init; }
    public IReadOnlyList<string> RunsOn { get; init; } = [];
    /// <summary>HOST or HOST:PORT entries wanted.</summary>
    public IReadOnlyList<string> Egress { get; init; } = [];

    public JsonObject ToJson() => new()
    {
        ["event"] = Event,
        ["fork"] = Fork,
        ["ref"] = Ref,
        ["actor"] = Actor,
        ["repository"] = Repository,
        ["job"] = Job,
        ["runs_on"] = new JsonArray([.. RunsOn.Select(l => (JsonNode)JsonValue.Create(l))]),
        ["egress"] = new JsonArray([.. Egress.Select(e => (JsonNode)JsonValue.Create(e))]),
    };
}
