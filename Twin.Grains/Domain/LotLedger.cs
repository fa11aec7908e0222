using System.Collections.Immutable;
using Twin.Bins;
using Twin.Genealogy;

namespace Twin.Grains.Domain;

/// <summary>Stock of one lot in a bin as received, in receipt order; <see cref="Lot"/> null is untracked stock.</summary>
[GenerateSerializer, Immutable, Alias("twin.LotLayer")]
public sealed record LotLayer(
    [property: Id(0)] string? Lot,
    [property: Id(1)] decimal Quantity,
    [property: Id(2)] DateTimeOffset Received);

/// <summary>The lots one issue or transfer drew, kept for replays.</summary>
[GenerateSerializer, Immutable, Alias("twin.LotDraw")]
public sealed record LotDraw(
    [property: Id(0)] string MovementId,
    [property: Id(1)] ImmutableArray<LotQuantity> Lots);

/// <summary>
/// Which lots a bin holds, first in, first out by receipt. The layers always add up to the bin's
/// on-hand: stock the bin had before it saw its first lot, stock a count adjustment found, and
/// receipts without a lot are untracked layers (lot null). An issue draws the lot it names first,
/// then the oldest layers. A bin that never received a lot keeps no layers at all. Pure.
/// </summary>
public static class LotLedger
{
    /// <summary>Most layers a bin keeps; past it the two oldest merge into one untracked layer (their lots are no longer told apart).</summary>
    public const int MaxLayers = 100;

    /// <summary>
    /// Makes the layers add up to <paramref name="onHand"/>: a shortfall is untracked stock older
    /// than every layer (added at the front); an excess is taken from the oldest layers.
    /// </summary>
    public static void Reconcile(List<LotLayer> layers, decimal onHand, DateTimeOffset at)
    {
        var sum = layers.Sum(l => l.Quantity);
        if (sum < onHand)
        {
            if (layers.Count > 0 && layers[0].Lot is null)
            {
                layers[0] = layers[0] with { Quantity = layers[0].Quantity + onHand - sum };
            }
            else
            {
                layers.Insert(0, new LotLayer(null, onHand - sum, layers.Count > 0 ? layers[0].Received : at));
            }
        }
        else if (sum > onHand)
        {
            Draw(layers, sum - onHand, null);
        }
    }

    /// <summary>Adds a receipt as the newest layer (joined to the newest layer when it is the same lot).</summary>
    public static void Receive(List<LotLayer> layers, string? lot, decimal quantity, DateTimeOffset at)
    {
        if (quantity <= 0)
        {
            return;
        }

        if (layers.Count > 0 && layers[^1].Lot == lot)
        {
            layers[^1] = layers[^1] with { Quantity = layers[^1].Quantity + quantity };
        }
        else
        {
            layers.Add(new LotLayer(lot, quantity, at));
        }

        while (layers.Count > MaxLayers)
        {
            layers[0] = new LotLayer(null, layers[0].Quantity + layers[1].Quantity, layers[0].Received);
            layers.RemoveAt(1);
        }
    }

    /// <summary>
    /// Takes <paramref name="quantity"/> out: from the layers of <paramref name="lot"/> first when
    /// given, then oldest first. Answers the lots drawn, in the order first drawn, one entry per lot;
    /// what the layers could not cover is answered as untracked.
    /// </summary>
    public static ImmutableArray<LotQuantity> Draw(List<LotLayer> layers, decimal quantity, string? lot)
    {
        var drawn = new List<LotQuantity>();
        var left = quantity;
        if (lot is not null)
        {
            left = Take(layers, left, drawn, l => l.Lot == lot);
        }

        left = Take(layers, left, drawn, _ => true);
        if (left > 0)
        {
            Add(drawn, null, left);
        }

        return [.. drawn];
    }

    /// <summary>
    /// Keeps the bin's lots through one applied movement (<paramref name="onHandBefore"/> its on-hand
    /// before it, <paramref name="onHandAfter"/> after) and answers the lots an issue or transfer drew.
    /// A bin with no lot so far, given a movement without one, keeps no layers: its draws are untracked.
    /// </summary>
    public static ImmutableArray<LotQuantity> Track(List<LotLayer> layers, StockMovement movement, decimal onHandBefore, decimal onHandAfter)
    {
        if (movement.Lot is null && !layers.Exists(l => l.Lot is not null))
        {
            layers.Clear();
            return movement.Kind is MovementKind.Issue or MovementKind.Transfer ? [new LotQuantity(null, movement.Quantity)] : [];
        }

        Reconcile(layers, onHandBefore, movement.Timestamp);
        var drawn = ImmutableArray<LotQuantity>.Empty;
        switch (movement.Kind)
        {
            case MovementKind.Receipt:
            case MovementKind.TransferIn:
                Receive(layers, movement.Lot, movement.Quantity, movement.Timestamp);
                break;
            case MovementKind.Issue:
            case MovementKind.Transfer:
                drawn = Draw(layers, movement.Quantity, movement.Lot);
                break;
        }

        Reconcile(layers, onHandAfter, movement.Timestamp);
        return drawn;
    }

    /// <summary>The lots and their remaining quantities, oldest receipt first, one entry per lot.</summary>
    public static ImmutableArray<LotQuantity> Holding(List<LotLayer> layers)
    {
        var held = new List<LotQuantity>();
        foreach (var layer in layers)
        {
            Add(held, layer.Lot, layer.Quantity);
        }

        return [.. held];
    }

    private static decimal Take(List<LotLayer> layers, decimal left, List<LotQuantity> drawn, Func<LotLayer, bool> which)
    {
        for (var i = 0; i < layers.Count && left > 0;)
        {
            var layer = layers[i];
            if (!which(layer))
            {
                i++;
                continue;
            }

            var take = Math.Min(left, layer.Quantity);
            Add(drawn, layer.Lot, take);
            left -= take;
            if (take == layer.Quantity)
            {
                layers.RemoveAt(i);
            }
            else
            {
                layers[i] = layer with { Quantity = layer.Quantity - take };
                i++;
            }
        }

        return left;
    }

    private static void Add(List<LotQuantity> list, string? lot, decimal quantity)
    {
        var i = list.FindIndex(q => q.Lot == lot);
        if (i >= 0)
        {
            list[i] = list[i] with { Quantity = list[i].Quantity + quantity };
        }
        else
        {
            list.Add(new LotQuantity(lot, quantity));
        }
    }
}
