using System.Globalization;
using System.Xml;
using Sandbox.CiRunner.Execution;

namespace Sandbox.CiRunner.Reports;

/// <summary>The run as JUnit XML: one testsuite per job leg, one testcase for the job itself and one per step; a
/// failed one carries its error and the tail of its (masked) log, a skipped one is marked skipped.</summary>
public static class JUnitReport
{
    public static void Write(RunResult run, Stream destination)
    {
        using var xml = XmlWriter.Create(destination, new XmlWriterSettings { Indent = true, Async = false });
        xml.WriteStartDocument();
        xml.WriteStartElement("testsuites");
        xml.WriteAttributeString("name", run.Workflow);
        xml.WriteAttributeString("tests", Count(run.Jobs.Sum(j => j.Steps.Count + 1)));
        xml.WriteAttributeString("failures", Count(run.Jobs.Sum(j => j.Steps.Count(Failed) + (Failed(j) ? 1 : 0))));
        xml.WriteAttributeString("time", Seconds(run.Duration));
        foreach (var job in run.Jobs)
        {
            xml.WriteStartElement("testsuite");
            xml.WriteAttributeString("name", job.Name);
            xml.WriteAttributeString("tests", Count(job.Steps.Count + 1));
            xml.WriteAttributeString("failures", Count(job.Steps.Count(Failed) + (Failed(job) ? 1 : 0)));
            xml.WriteAttributeString("skipped", Count(job.Steps.Count(s => s.Conclusion == Conclusion.Skipped) + (job.Conclusion == Conclusion.Skipped ? 1 : 0)));
            xml.WriteAttributeString("time", Seconds(job.Duration));
            xml.WriteStartElement("properties");
            Property(xml, "tier", job.Tier ?? "");
            Property(xml, "trust", job.Decision?.Trust ?? "");
            Property(xml, "egress", string.Join(",", job.Egress));
            Property(xml, "sandbox", job.SandboxId ?? "");
            xml.WriteEndElement();
            Case(xml, job.Name, "(job)", job.Duration, job.Conclusion, job.Error, []);
            foreach (var step in job.Steps)
                Case(xml, job.Name, step.Name, step.Duration, step.Conclusion, step.Error, step.Outcome == Conclusion.Failure ? step.LogTail : []);
            xml.WriteEndElement();
        }
        xml.WriteEndElement();
        xml.WriteEndDocument();
    }

    private static void Case(XmlWriter xml, string suite, string name, TimeSpan time, Conclusion conclusion, string? error, IReadOnlyList<string> log)
    {
        xml.WriteStartElement("testcase");
        xml.WriteAttributeString("classname", suite);
        xml.WriteAttributeString("name", name);
        xml.WriteAttributeString("time", Seconds(time));
        if (conclusion is Conclusion.Failure or Conclusion.Cancelled)
        {
            xml.WriteStartElement("failure");
            xml.WriteAttributeString("message", error ?? conclusion.Name());
            xml.WriteAttributeString("type", conclusion.Name());
            xml.WriteString(string.Join('\n', log));
            xml.WriteEndElement();
        }
        else if (conclusion == Conclusion.Skipped)
        {
            xml.WriteStartElement("skipped");
            xml.WriteEndElement();
        }
        else if (log.Count > 0)
            xml.WriteElementString("system-out", string.Join('\n', log));
        xml.WriteEndElement();
    }

    private static void Property(XmlWriter xml, string name, string value)
    {
        xml.WriteStartElement("property");
        xml.WriteAttributeString("name", name);
        xml.WriteAttributeString("value", value);
        xml.WriteEndElement();
    }

    private static bool Failed(StepResult s) => s.Conclusion is Conclusion.Failure or Conclusion.Cancelled;
    private static bool Failed(JobResult j) => j.Conclusion is Conclusion.Failure or Conclusion.Cancelled;
    private static string Count(int n) => n.ToString(CultureInfo.InvariantCulture);
    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture);
}
