using System.Text.Json;
using Sandbox.CiRunner.Execution;

namespace Sandbox.CiRunner.Reports;

/// <summary>The run as JSON (written with Utf8JsonWriter: no reflection, NativeAOT-safe): each job leg with its
/// decision (trust, tier, egress, reasons), result, timings (overhead: start, checkout, teardown), outputs and steps.</summary>
public static class JsonReport
{
    public static void Write(RunResult run, Stream destination)
    {
        using var w = new Utf8JsonWriter(destination, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartObject();
        w.WriteString("workflow", run.Workflow);
        w.WriteString("result", run.Succeeded ? "success" : run.Cancelled ? "cancelled" : "failure");
        w.WriteNumber("duration_s", Math.Round(run.Duration.TotalSeconds, 3));
        w.WriteStartArray("jobs");
        foreach (var job in run.Jobs)
        {
            w.WriteStartObject();
            w.WriteString("id", job.JobId);
            w.WriteString("name", job.Name);
            w.WriteString("result", job.Conclusion.Name());
            w.WriteString("outcome", job.Outcome.Name());
            w.WriteBoolean("timed_out", job.TimedOut);
            if (job.Error is not null) w.WriteString("error", job.Error);
            w.WriteString("tier", job.Tier);
            w.WriteString("sandbox", job.SandboxId);
            w.WriteString("image", job.Image);
            if (job.Decision is { } d)
            {
                w.WriteStartObject("decision");
                w.WriteString("trust", d.Trust);
                w.WriteBoolean("secrets", d.Secrets);
                Strings(w, "egress", d.Egress);
                Strings(w, "reasons", d.Reasons);
                w.WriteEndObject();
            }
            w.WriteNumber("duration_s", Math.Round(job.Duration.TotalSeconds, 3));
            if (job.Overhead is { } o)
            {
                w.WriteStartObject("overhead_s");
                w.WriteNumber("start", Math.Round(o.Start.TotalSeconds, 3));
                w.WriteNumber("checkout", Math.Round(o.Checkout.TotalSeconds, 3));
                w.WriteNumber("teardown", Math.Round(o.Teardown.TotalSeconds, 3));
                w.WriteEndObject();
            }
            w.WriteStartObject("outputs");
            foreach (var (k, v) in job.Outputs) w.WriteString(k, v);
            w.WriteEndObject();
            if (job.StepSummary.Length > 0) w.WriteString("step_summary", job.StepSummary);
            w.WriteStartArray("steps");
            foreach (var s in job.Steps)
            {
                w.WriteStartObject();
                w.WriteString("name", s.Name);
                if (s.Id is not null) w.WriteString("id", s.Id);
                w.WriteString("outcome", s.Outcome.Name());
                w.WriteString("conclusion", s.Conclusion.Name());
                w.WriteNumber("duration_s", Math.Round(s.Duration.TotalSeconds, 3));
                if (s.ExitCode is { } code) w.WriteNumber("exit_code", code);
                if (s.TimedOut) w.WriteBoolean("timed_out", true);
                if (s.Error is not null) w.WriteString("error", s.Error);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Strings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }
}
