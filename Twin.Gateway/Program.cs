using Twin.Gateway;
using Twin.Hosting;

// Settings and relative paths (appsettings.json, data/) belong to the program, not to whatever
// folder it was started from: the current folder when it has the settings (`dotnet run`), else
// the program's own.
return await ExitCodes.RunAsync(() =>
{
    var builder = WebApplication.CreateBuilder(new WebApplicationOptions
    {
        Args = args,
        ContentRootPath = File.Exists(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json")) ? Directory.GetCurrentDirectory() : AppContext.BaseDirectory,
    });
    builder.AddTwinGateway();

    var app = builder.Build();
    app.MapTwinGateway();
    return app;
}, "gateway");

/// <summary>The gateway's entry point, visible to tests.</summary>
public partial class Program;
