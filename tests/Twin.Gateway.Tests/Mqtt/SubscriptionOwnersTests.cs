using Twin.Gateway.Mqtt;

namespace Twin.Gateway.Tests.Mqtt;

/// <summary>Which copy of a message that matches overlapping subscriptions is taken in.</summary>
public sealed class SubscriptionOwnersTests
{
    private static readonly SubscriptionOwners Owners = new(["spBv1.0/+/#"], ["+/+/machine/+/#", "acme/+/+"]);

    [Theory]
    [InlineData("factory/p/machine/m1/telemetry", SubscriptionOwners.Contract)]
    [InlineData("factory/p/press-1/telemetry", SubscriptionOwners.Contract)]
    [InlineData("spBv1.0/p/DDATA/node/dev", SubscriptionOwners.Sparkplug)]
    [InlineData("site/p/machine/m1/level", SubscriptionOwners.FirstUns)]
    [InlineData("acme/m1/level", SubscriptionOwners.FirstUns + 1)]
    [InlineData("other/m1", 0u)]
    public void Sparkplug_then_the_contract_then_the_templates_own_a_topic(string topic, uint owner)
    {
        Assert.Equal(owner, Owners.Owner(topic));
    }

    [Theory]
    // One copy per subscription (Mosquitto; shared subscriptions): only the owner's is taken.
    [InlineData("factory/p/machine/m1/telemetry", new uint[] { SubscriptionOwners.FirstUns }, true)]
    [InlineData("factory/p/machine/m1/telemetry", new uint[] { SubscriptionOwners.Contract }, false)]
    [InlineData("spBv1.0/p/DDATA/node/dev", new uint[] { SubscriptionOwners.FirstUns }, true)]
    [InlineData("spBv1.0/p/DDATA/node/dev", new uint[] { SubscriptionOwners.Sparkplug }, false)]
    [InlineData("site/p/machine/m1/level", new uint[] { SubscriptionOwners.FirstUns }, false)]
    // One copy for all (MQTTnet's broker): taken.
    [InlineData("factory/p/machine/m1/telemetry", new uint[] { SubscriptionOwners.Contract, SubscriptionOwners.FirstUns }, false)]
    // No identifiers (a broker without them, or a message queued before this run subscribed): taken.
    [InlineData("factory/p/machine/m1/telemetry", new uint[0], false)]
    public void A_copy_without_the_owners_identifier_is_left_out(string topic, uint[] identifiers, bool copy)
    {
        Assert.Equal(copy, Owners.IsCopy(topic, identifiers));
        Assert.False(Owners.IsCopy(topic, null));
    }

    [Fact]
    public void Two_templates_that_overlap_take_a_message_once()
    {
        var owners = new SubscriptionOwners([], ["acme/+/+/#", "acme/berlin/#"]);
        Assert.True(owners.Overlap);
        Assert.True(owners.IsCopy("acme/berlin/m1/t", [SubscriptionOwners.FirstUns + 1]));
        Assert.False(owners.IsCopy("acme/berlin/m1/t", [SubscriptionOwners.FirstUns]));
        Assert.False(owners.IsCopy("acme/paris/m1/t", [SubscriptionOwners.FirstUns]));
    }

    [Theory]
    [InlineData("+/+/machine/+/#", "factory/#", true)]
    [InlineData("acme/+/+/#", "factory/#", false)]
    [InlineData("acme/+/+/#", "acme/berlin/#", true)]
    [InlineData("a/+/b", "a/x/c", false)]
    [InlineData("a/+", "a/x/y", false)]
    [InlineData("a/+/+", "+/x/y", true)]
    [InlineData("#", "spBv1.0/+/#", true)]
    public void Filters_overlap_when_a_topic_matches_both(string a, string b, bool overlap)
    {
        Assert.Equal(overlap, SubscriptionOwners.Overlaps(a, b));
        Assert.Equal(overlap, SubscriptionOwners.Overlaps(b, a));
    }

    [Fact]
    public void Templates_apart_from_each_other_and_the_contract_do_not_overlap()
    {
        var owners = new SubscriptionOwners(["spBv1.0/+/#"], ["acme/+/+/#", "umh/v1/#"]);
        Assert.False(owners.Overlap);
        // Nothing to compare then, whatever the identifiers say.
        Assert.False(owners.IsCopy("acme/x/m1/t", [99]));
    }
}
