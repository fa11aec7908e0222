using Microsoft.Extensions.Options;
using Twin.Gateway;
using Twin.Hosting;

// Settings and relative paths (appsettings.json, data/) belong to the program, not to whatever
// folder it was started from: the current folder when it has the settings (`dotnet run`), else
// the program's own.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    Args = args,
    ContentRootPath = File.Exists(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json")) ? Directory.GetCurrentDirectory() : AppContext.BaseDirectory,
});
builder.AddTwinGateway();

var app = builder.Build();
app.MapTwinGateway();
try
{
    await app.RunAsync();
}
catch (OptionsValidationException ex)
{
    // Already logged by the host; a setting that is wrong is the operator's to fix, not a crash.
    Console.Error.WriteLine($"Factory Twin gateway did not start: {ex.Message}");
    return ExitCodes.Configuration;
}

return 0;

/// <summary>The gateway's entry point, visible to tests.</summary>
public partial class Program;
