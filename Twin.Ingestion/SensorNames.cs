using System.Text;

namespace Twin.Ingestion;

/// <summary>
/// Sensor names from sources that name things by path (Sparkplug metric names, Unified Namespace
/// tags): <c>Motor/Temperature</c> becomes <c>Motor.Temperature</c>, and any other character a
/// sensor name of the contract cannot have (letters, digits, <c>_</c>, <c>-</c>, <c>.</c>) becomes <c>_</c>.
/// A mapping profile's aliases match both spellings.
/// </summary>
public static class SensorNames
{
    public const int MaxLength = 64;

    public static string FromPath(string name)
    {
        if (name.Length == 0)
        {
            return "_";
        }

        var builder = new StringBuilder(Math.Min(name.Length, MaxLength));
        foreach (var c in name)
        {
            if (builder.Length == MaxLength)
            {
                break;
            }

            builder.Append(c switch
            {
                '/' => '.',
                _ when char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' => c,
                _ => '_',
            });
        }

        return builder.ToString();
    }
}
