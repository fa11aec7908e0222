namespace Twin;

/// <summary>The name of the meter every Factory Twin process reports its own metrics under (<c>twin_*</c> in Prometheus).</summary>
public static class TwinMeters
{
    public const string Name = "FactoryTwin";
}
