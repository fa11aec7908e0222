namespace Twin.Grains.Infrastructure;

/// <summary>Names shared by the grains and the silo's storage setup.</summary>
public static class TwinStorage
{
    /// <summary>The grain storage provider holding all twin state.</summary>
    public const string Name = "twins";
}
