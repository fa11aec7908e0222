using Twin.Ingestion;

namespace Twin.Gateway.Tests.Ingestion;

public class MachineTopicTests
{
    [Theory]
    [InlineData("factory/demo/machine/press-1/telemetry", "demo", "press-1", MachineTopicKind.Telemetry)]
    [InlineData("factory/f_2/machine/m.3/status", "f_2", "m.3", MachineTopicKind.Status)]
    [InlineData("factory/a/machine/b/counts", "a", "b", MachineTopicKind.Counts)]
    [InlineData("factory/a/machine/b/quality", "a", "b", MachineTopicKind.Quality)]
    public void Parses_contract_topics(string topic, string factory, string machine, MachineTopicKind kind)
    {
        Assert.True(MachineTopic.TryParse(topic, out var parsed, out _));
        Assert.Equal(new MachineTopic(factory, machine, kind), parsed);
        Assert.Equal($"{factory}/{machine}", parsed.GrainKey);
    }

    [Theory]
    [InlineData("factory/demo/machine/press-1", "topic.unknown")]
    [InlineData("plant/demo/machine/m/telemetry", "topic.unknown")]
    [InlineData("factory/demo/machine/m/firmware", "topic.kind")]
    [InlineData("factory/.x/machine/m/telemetry", "topic.factory")]
    [InlineData("factory/_unrouted/machine/m/telemetry", "topic.factory")]
    [InlineData("factory/demo/machine/m$/telemetry", "topic.machine")]
    [InlineData("", "topic.unknown")]
    public void Refuses_other_topics_with_a_reason(string topic, string code)
    {
        Assert.False(MachineTopic.TryParse(topic, out _, out var error));
        Assert.StartsWith(code, error, StringComparison.Ordinal);
    }
}
