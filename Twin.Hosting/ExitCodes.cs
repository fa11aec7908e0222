namespace Twin.Hosting;

/// <summary>What the gateway's and the silo's processes exit with, for scripts and orchestrators.</summary>
public static class ExitCodes
{
    /// <summary>A setting is wrong (the message names it): BSD sysexits' EX_CONFIG. Restarting will not help.</summary>
    public const int Configuration = 78;
}
