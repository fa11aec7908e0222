using System.Collections.Immutable;

namespace Twin.Factories;

/// <summary>The kinds of twin a factory holds.</summary>
public enum TwinKind
{
    /// <summary>A machine twin.</summary>
    Machine = 0,

    /// <summary>A production line twin.</summary>
    Line = 1,

    /// <summary>A work order twin.</summary>
    WorkOrder = 2,

    /// <summary>A stock bin twin.</summary>
    StockBin = 3,

    /// <summary>The maintenance tickets of one machine and fault kind (<c>{machine}.{kind}</c>).</summary>
    TicketDesk = 4,

    /// <summary>The purchase requests of one stock bin.</summary>
    PurchaseDesk = 5,

    /// <summary>The control chart of one characteristic on one machine (<c>{machine}/{characteristic}</c>).</summary>
    Characteristic = 6,

    /// <summary>The inspection log of one machine.</summary>
    InspectionLog = 7,

    /// <summary>A product: its revisions from PLM and its work orders.</summary>
    Product = 8,
}

/// <summary>
/// The directory of one factory's twins, keyed by the factory id. Twins register themselves
/// once, when they first hold state; it is never on the hot path of readings.
/// </summary>
[Alias("twin.IFactoryGrain")]
public interface IFactoryGrain : IGrainWithStringKey
{
    /// <summary>Records that a twin of this factory exists (idempotent).</summary>
    [Alias("Register")]
    Task RegisterAsync(TwinKind kind, string id);

    /// <summary>The ids of the factory's twins of one kind, sorted ordinally.</summary>
    [Alias("List")]
    Task<ImmutableArray<string>> ListAsync(TwinKind kind);
}
