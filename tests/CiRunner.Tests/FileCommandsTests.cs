using Sandbox.CiRunner.Execution;
using Sandbox.CiRunner.Expressions;

namespace Sandbox.CiRunner.Tests;

public sealed class FileCommandsTests
{
    [Fact]
    public void Values_with_equals_signs_and_heredocs_with_any_delimiter_parse_as_on_GitHub()
    {
        var pairs = FileCommands.ParseKeyValues("A=b=c\r\n\nMULTI<<EOF_1=x\nline 1\n\nline=3\nEOF_1=x\nB<<=\nC=after\n=\n", "$GITHUB_ENV");
        Assert.Equal([
            KeyValuePair.Create("A", "b=c"),
            KeyValuePair.Create("MULTI", "line 1\n\nline=3"),
            KeyValuePair.Create("B", "C=after"), // '<<' comes before '=', so '=' is the delimiter
        ], pairs);
    }

    [Fact]
    public void A_missing_delimiter_is_an_error_naming_it() =>
        Assert.Contains("matching delimiter not found: 'END'", Assert.Throws<ExpressionException>(() =>
            FileCommands.ParseKeyValues("X<<END\nvalue\n", "$GITHUB_OUTPUT")).Message);

    [Fact]
    public void The_runners_own_variables_are_protected()
    {
        Assert.True(FileCommands.IsProtectedEnv("GITHUB_WORKSPACE"));
        Assert.True(FileCommands.IsProtectedEnv("RUNNER_TEMP"));
        Assert.True(FileCommands.IsProtectedEnv("NODE_OPTIONS"));
        Assert.False(FileCommands.IsProtectedEnv("MY_VAR"));
    }

    [Fact]
    public void Path_lines_are_trimmed_and_empty_ones_skipped() =>
        Assert.Equal(["/a/bin", "/b"], FileCommands.ParsePath(" /a/bin \r\n\n/b\n"));

    [Fact]
    public void Secrets_are_masked_whole_and_line_by_line_and_add_mask_hides_later_lines()
    {
        var masker = new SecretMasker(["abc", "abcdef", "two\nlines", " "]);
        Assert.Equal("x *** y ***", masker.Mask("x abcdef y abc"));
        Assert.Equal("*** and ***", masker.Mask("two and lines"));
        var commands = new WorkflowCommands(masker);
        Assert.Null(commands.Process("::add-mask::hunter2"));
        Assert.Equal("pw is ***", commands.Process("pw is hunter2"));
        Assert.Equal("error: bad *** value", commands.Process("::error file=a.c,line=3::bad hunter2 value"));
        Assert.Null(commands.Process("::stop-commands::tok"));
        Assert.Equal("::add-mask::visible", commands.Process("::add-mask::visible"));
        Assert.Null(commands.Process("::tok::"));
        Assert.Null(commands.Process("::add-mask::now-hidden"));
        Assert.Equal("***", commands.Process("now-hidden"));
    }

    [Fact]
    public void Lines_are_split_across_writes_and_long_lines_are_cut()
    {
        var lines = new List<string>();
        var s = new LineWriterStream(lines.Add);
        s.Write("one\ntw"u8);
        s.Write("o\r\nthree"u8);
        s.Complete();
        Assert.Equal(["one", "two", "three"], lines);
        lines.Clear();
        s.Write(new byte[LineWriterStream.MaxLineBytes + 10].Select(_ => (byte)'x').ToArray());
        s.Complete();
        Assert.Equal([LineWriterStream.MaxLineBytes, 10], lines.Select(l => l.Length));
    }
}
