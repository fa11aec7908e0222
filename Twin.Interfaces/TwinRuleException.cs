namespace Twin;

/// <summary>
/// A command was refused because it breaks a rule of the twin (an illegal lifecycle transition,
/// a movement that would make stock negative, an unknown twin). The message says which rule.
/// </summary>
[GenerateSerializer, Alias("twin.TwinRuleException")]
public sealed class TwinRuleException : Exception
{
    /// <summary>Creates the exception with a stable machine-readable code and a message.</summary>
    public TwinRuleException(string code, string message)
        : base(message)
    {
        Code = code;
    }

    /// <summary>Creates the exception with an empty code.</summary>
    public TwinRuleException()
        : this("rule", "A twin rule was violated.")
    {
    }

    /// <summary>Creates the exception with an empty code.</summary>
    public TwinRuleException(string message)
        : this("rule", message)
    {
    }

    /// <summary>Creates the exception with an empty code and an inner exception.</summary>
    public TwinRuleException(string message, Exception innerException)
        : base(message, innerException)
    {
        Code = "rule";
    }

    /// <summary>Stable code of the rule, e.g. <c>workorder.illegal-transition</c>.</summary>
    [Id(0)]
    public string Code { get; private set; } = "rule";

    /// <summary>True when the rule says the target does not exist (maps to HTTP 404).</summary>
    public bool IsNotFound => Code.EndsWith(".not-found", StringComparison.Ordinal);
}
