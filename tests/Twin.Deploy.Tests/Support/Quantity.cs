using System.Globalization;

namespace Twin.Deploy.Tests.Support;

/// <summary>Kubernetes resource quantities (<c>500m</c>, <c>2</c>, <c>1Gi</c>) as numbers.</summary>
internal static class Quantity
{
    private static readonly (string Suffix, decimal Factor)[] Suffixes =
    [
        ("Ki", 1024m), ("Mi", 1024m * 1024), ("Gi", 1024m * 1024 * 1024), ("Ti", 1024m * 1024 * 1024 * 1024),
        ("k", 1e3m), ("M", 1e6m), ("G", 1e9m), ("T", 1e12m), ("m", 1e-3m),
    ];

    public static decimal Parse(string quantity)
    {
        foreach (var (suffix, factor) in Suffixes)
        {
            if (quantity.EndsWith(suffix, StringComparison.Ordinal))
            {
                return decimal.Parse(quantity[..^suffix.Length], NumberStyles.Number, CultureInfo.InvariantCulture) * factor;
            }
        }

        return decimal.Parse(quantity, NumberStyles.Number, CultureInfo.InvariantCulture);
    }
}
