using Twin.Silo.History;

namespace Twin.Silo.Tests.History;

public sealed class SeriesIdsTests
{
    [Fact]
    public void It_answers_as_a_dictionary_of_the_three_names_would()
    {
        var ids = new SeriesIds();
        var reference = new Dictionary<(string, string, string), long>();
        var random = new Random(17);
        for (var i = 0; i < 20_000; i++)
        {
            // New strings each time, as a parsed message brings them: equal by value, not by reference.
            var key = ($"f{random.Next(3)}", $"m{random.Next(40)}", $"s{random.Next(60)}");
            if (random.Next(3) == 0)
            {
                ids.Set(key.Item1, key.Item2, key.Item3, i);
                reference[key] = i;
            }

            var found = ids.TryGet(key.Item1, key.Item2, key.Item3, out var id);
            Assert.Equal(reference.TryGetValue(key, out var expected), found);
            Assert.Equal(found ? expected : 0, id);
        }

        Assert.Equal(reference.Count, ids.Count);
    }

    [Fact]
    public void Names_are_compared_exactly()
    {
        var ids = new SeriesIds();
        ids.Set("f", "m", "Temperature", 1);
        ids.Set("f", "m", "temperature", 2);
        ids.Set("f", "m/x", "temperature", 3);

        Assert.True(ids.TryGet("f", "m", "Temperature", out var upper));
        Assert.True(ids.TryGet("f", "m", "temperature", out var lower));
        Assert.True(ids.TryGet("f", "m/x", "temperature", out var other));
        Assert.Equal((1, 2, 3), (upper, lower, other));
        Assert.False(ids.TryGet("f", "m", "temperature ", out _));
        Assert.False(ids.TryGet("F", "m", "temperature", out _));
    }

    [Fact]
    public void Cleared_it_knows_nothing()
    {
        var ids = new SeriesIds();
        ids.Set("f", "m", "s", 5);
        ids.Clear();

        Assert.False(ids.TryGet("f", "m", "s", out _));
        Assert.Equal(0, ids.Count);
    }
}
