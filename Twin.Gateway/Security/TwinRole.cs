namespace Twin.Gateway.Security;

/// <summary>What a caller may do, from least to most.</summary>
public enum TwinRole
{
    /// <summary>Read twins and lists, subscribe to live changes.</summary>
    Viewer = 0,

    /// <summary>Viewer, plus ticket and purchase-request actions.</summary>
    Operator = 1,

    /// <summary>Viewer, plus business-system events, master data, mapping profiles and telemetry over HTTP.</summary>
    Integrator = 2,

    /// <summary>Everything.</summary>
    Admin = 3,
}
