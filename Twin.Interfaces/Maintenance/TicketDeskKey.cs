using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Twin.Machines;

namespace Twin.Maintenance;

/// <summary>
/// The key of one machine's ticket desk for one fault kind: grain key <c>{factory}/{machine}.{kind}</c>,
/// desk id <c>{machine}.{kind}</c>, ticket ids <c>{machine}.{kind}.{number}</c>. A quality desk (an
/// SPC rule, <see cref="Twin.Quality.SpcRules.IsSpc"/>) is one per characteristic and rule:
/// <c>{machine}.{characteristic}.{kind}</c> (characteristic names have no '.'). Built and read only here.
/// </summary>
/// <param name="Characteristic">The characteristic of a quality desk; null for a machine fault.</param>
public readonly record struct TicketDeskKey(string Factory, string Machine, FaultKind Kind, string? Characteristic = null)
{
    /// <summary>The desk's id within its factory: <c>{machine}.{kind}</c>, or <c>{machine}.{characteristic}.{kind}</c>.</summary>
    public string Id => Characteristic is null ? $"{Machine}.{Kind}" : $"{Machine}.{Characteristic}.{Kind}";

    /// <summary>The desk's grain key: <c>{factory}/{machine}.{kind}</c>.</summary>
    public string GrainKey => Characteristic is null ? TwinKey.Compose(Factory, Id) : $"{TwinKey.Compose(Factory, Machine)}.{Characteristic}.{Kind}";

    /// <summary>The id of the desk's ticket <paramref name="number"/>.</summary>
    public string TicketId(int number) => string.Create(CultureInfo.InvariantCulture, $"{Id}.{number}");

    /// <summary>Reads a desk id (<c>{machine}.{kind}</c>) of <paramref name="factory"/>.</summary>
    public static bool TryParseId(string factory, string? id, out TicketDeskKey key)
    {
        key = default;
        var dot = id?.LastIndexOf('.') ?? -1;
        if (dot <= 0 || !TwinKey.IsValidId(factory, out _) || !TwinKey.IsValidId(id![..dot], out _)
            || !Enum.TryParse<FaultKind>(id[(dot + 1)..], ignoreCase: false, out var kind) || !Enum.IsDefined(kind) || kind.ToString() != id[(dot + 1)..])
        {
            return false;
        }

        var owner = id[..dot];
        if (!Twin.Quality.SpcRules.IsSpc(kind))
        {
            key = new TicketDeskKey(factory, owner, kind);
            return true;
        }

        // A quality desk: the characteristic follows the machine after its last '.'.
        var split = owner.LastIndexOf('.');
        if (split <= 0 || !TwinKey.IsValidId(owner[..split], out _) || !Twin.Quality.CharacteristicKey.IsValidName(owner[(split + 1)..], out _))
        {
            return false;
        }

        key = new TicketDeskKey(factory, owner[..split], kind, owner[(split + 1)..]);
        return true;
    }

    /// <summary>Reads a desk's grain key (<c>{factory}/{machine}.{kind}</c>).</summary>
    /// <exception cref="ArgumentException">It is not one.</exception>
    public static TicketDeskKey Parse(string grainKey)
    {
        var (factory, id) = TwinKey.Split(grainKey);
        return TryParseId(factory, id, out var key) ? key : throw new ArgumentException($"'{grainKey}' is not a ticket desk key of the form factory/machine.kind.", nameof(grainKey));
    }

    /// <summary>Reads a ticket id (<c>{machine}.{kind}.{number}</c>) of <paramref name="factory"/>.</summary>
    public static bool TryParseTicket(string factory, string? ticketId, out TicketDeskKey desk, out int number)
    {
        desk = default;
        number = 0;
        var dot = ticketId?.LastIndexOf('.') ?? -1;
        return dot > 0
            && int.TryParse(ticketId.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out number)
            && number > 0
            && TryParseId(factory, ticketId![..dot], out desk);
    }

    /// <summary>Reads a desk id that is known to be valid, e.g. one listed by the factory.</summary>
    public static TicketDeskKey OfId(string factory, [NotNull] string id) =>
        TryParseId(factory, id, out var key) ? key : throw new ArgumentException($"'{id}' is not a ticket desk id of the form machine.kind.", nameof(id));
}
