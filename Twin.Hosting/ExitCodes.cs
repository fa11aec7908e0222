using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Twin.Hosting;

/// <summary>What the gateway's and the silo's processes exit with, for scripts and orchestrators.</summary>
public static class ExitCodes
{
    /// <summary>A setting is wrong (the message names it): BSD sysexits' EX_CONFIG. Restarting will not help.</summary>
    public const int Configuration = 78;

    /// <summary>
    /// Runs the host until it stops: 0, or <see cref="Configuration"/> with one line on standard
    /// error naming the wrong setting ("Factory Twin {process} did not start: …") when a setting
    /// fails validation. The host has logged it already; a wrong setting is the operator's to fix,
    /// not a crash with a stack trace.
    /// </summary>
    public static async Task<int> RunAsync(IHost host, string process)
    {
        try
        {
            await host.RunAsync();
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync($"Factory Twin {process} did not start: {ex.Message}");
            return Configuration;
        }

        return 0;
    }
}
