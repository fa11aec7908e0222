using System.Diagnostics.CodeAnalysis;

namespace Twin;

/// <summary>
/// Builds and checks the string keys of twins: <c>"{factory}/{id}"</c>.
/// </summary>
public static class TwinKey
{
    /// <summary>The longest id (factory or twin) accepted.</summary>
    public const int MaxIdLength = 64;

    /// <summary>
    /// The factory id that records input naming no factory that can be read (its dead letters and
    /// counters): readable like any factory, never written to as one.
    /// </summary>
    public const string UnroutedFactory = "_unrouted";

    /// <summary>
    /// True when input (readings, master data, business events) may be written to twins of
    /// <paramref name="factory"/>: a valid id (<see cref="IsValidId"/>) other than
    /// <see cref="UnroutedFactory"/>; otherwise <paramref name="error"/> says why.
    /// </summary>
    public static bool IsWritableFactory([NotNullWhen(true)] string? factory, [NotNullWhen(false)] out string? error)
    {
        if (!IsValidId(factory, out error))
        {
            return false;
        }

        if (string.Equals(factory, UnroutedFactory, StringComparison.Ordinal))
        {
            error = $"'{UnroutedFactory}' is reserved for input whose factory cannot be read";
            return false;
        }

        return true;
    }

    /// <summary>Composes the grain key of a twin.</summary>
    /// <exception cref="ArgumentException">Either part is not a valid id.</exception>
    public static string Compose(string factory, string id)
    {
        if (!IsValidId(factory, out var error))
        {
            throw new ArgumentException($"Invalid factory id: {error}", nameof(factory));
        }

        if (!IsValidId(id, out error))
        {
            throw new ArgumentException($"Invalid twin id: {error}", nameof(id));
        }

        return string.Concat(factory, "/", id);
    }

    /// <summary>Splits a grain key into its factory and id.</summary>
    public static (string Factory, string Id) Split(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == key.Length - 1)
        {
            throw new ArgumentException($"'{key}' is not a twin key of the form factory/id.", nameof(key));
        }

        return (key[..slash], key[(slash + 1)..]);
    }

    /// <summary>
    /// True when <paramref name="id"/> is 1–64 characters of letters, digits, '-', '_' or '.',
    /// not starting with '.'; otherwise <paramref name="error"/> says why.
    /// </summary>
    public static bool IsValidId([NotNullWhen(true)] string? id, [NotNullWhen(false)] out string? error)
    {
        if (string.IsNullOrEmpty(id))
        {
            error = "an id must not be empty";
            return false;
        }

        if (id.Length > MaxIdLength)
        {
            error = $"an id must be at most {MaxIdLength} characters";
            return false;
        }

        if (id[0] == '.')
        {
            error = "an id must not start with '.'";
            return false;
        }

        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                error = $"'{id}' contains '{c}'; ids use letters, digits, '-', '_' and '.'";
                return false;
            }
        }

        error = null;
        return true;
    }
}
