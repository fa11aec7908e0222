using Twin.Silo;

namespace Twin.Gateway.Embedded;

/// <summary>
/// Embedded mode (the one-command default): the gateway co-hosts a silo with the same setup as
/// <c>Twin.Silo</c>. This is the only place the gateway touches the silo's composition; every other
/// part of the gateway speaks to the twins through the contracts in Twin.Interfaces, as a
/// client-mode gateway does (a test keeps it so).
/// </summary>
internal static class EmbeddedSilo
{
    public static void AddEmbeddedSilo(this WebApplicationBuilder builder) => builder.AddTwinSilo();
}
