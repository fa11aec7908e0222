using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Twin.Hosting;

/// <summary>What the gateway's and the silo's processes exit with, for scripts and orchestrators.</summary>
public static class ExitCodes
{
    /// <summary>A setting is wrong (the message names it): BSD sysexits' EX_CONFIG. Restarting will not help.</summary>
    public const int Configuration = 78;

    /// <summary>
    /// Composes the host with <paramref name="compose"/> and runs it until it stops: 0, or
    /// <see cref="Configuration"/> with one line on standard error naming the wrong setting
    /// ("Factory Twin {process} did not start: …") when a setting is wrong, whether composing
    /// found it (a mode chooses what is registered, so some settings are read then) or the
    /// host's start did. A wrong setting is the operator's to fix, not a crash with a stack trace.
    /// </summary>
    public static async Task<int> RunAsync(Func<IHost> compose, string process)
    {
        try
        {
            using var host = compose();
            await host.RunAsync();
        }
        catch (Exception ex) when (SettingError(ex) is { } message)
        {
            await Console.Error.WriteLineAsync($"Factory Twin {process} did not start: {message}");
            return Configuration;
        }

        return 0;
    }

    /// <summary>What is wrong with the settings, when <paramref name="ex"/> says a setting is wrong.</summary>
    public static string? SettingError(Exception ex) => ex switch
    {
        OptionsValidationException or TwinSettingsException => ex.Message,

        // The configuration binder's own: "Failed to convert configuration value '…' at 'Twin:Mqtt:Port' to type 'System.Int32'."
        InvalidOperationException { Message: var message } when message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal) => message,

        // Kestrel's for an address in `urls` it cannot read ("Invalid url: '…'", a port out of range).
        FormatException or ArgumentOutOfRangeException when FromServerAddresses(ex) => $"an address in urls (or ASPNETCORE_URLS) is not valid: {ex.Message}",

        // Kestrel's for an address it cannot bind ("Failed to bind to address …: address already in use.").
        IOException { Message: var message } when message.StartsWith("Failed to bind to address", StringComparison.Ordinal) => message,

        AggregateException { InnerExceptions: [var only] } => SettingError(only),
        { InnerException: { } inner } => SettingError(inner),
        _ => null,
    };

    private static bool FromServerAddresses(Exception ex) =>
        ex.StackTrace?.Contains("AddressBinder", StringComparison.Ordinal) == true
        || ex.StackTrace?.Contains("BindingAddress", StringComparison.Ordinal) == true;
}

/// <summary>
/// A setting, or settings together, that cannot work (the message names them and says what to
/// do): the process stops with <see cref="ExitCodes.Configuration"/> instead of a stack trace.
/// </summary>
public sealed class TwinSettingsException(string message, Exception? inner = null) : Exception(message, inner);
