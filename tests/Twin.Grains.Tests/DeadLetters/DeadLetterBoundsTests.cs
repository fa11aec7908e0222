using Twin.DeadLetters;

namespace Twin.Grains.Tests.DeadLetters;

/// <summary>A dead letter keeps bounded text, so one device cannot grow a factory's dead-letter state without limit.</summary>
public class DeadLetterBoundsTests
{
    [Fact]
    public void Topic_reason_and_payload_are_cut_to_their_bounds()
    {
        var huge = new string('x', 1_000_000);
        var letter = new DeadLetter(DateTimeOffset.UnixEpoch, "mqtt", "factory/f/" + huge, "topic.kind: '" + huge + "'", huge).Bounded();
        Assert.Equal(DeadLetter.MaxTopicChars, letter.Topic!.Length);
        Assert.Equal(DeadLetter.MaxReasonChars, letter.Reason.Length);
        Assert.Equal(DeadLetter.MaxPayloadChars, letter.Payload.Length);
        Assert.EndsWith("…", letter.Topic, StringComparison.Ordinal);
        Assert.Equal("topic.kind", letter.ReasonCode);
    }

    [Fact]
    public void A_letter_within_its_bounds_is_kept_as_it_is()
    {
        var letter = new DeadLetter(DateTimeOffset.UnixEpoch, "http", null, "payload.malformed: x", "{");
        Assert.Same(letter, letter.Bounded());
    }
}
