using Twin.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Twin.Silo;

// `Twin.Silo migrate`: apply the PostgreSQL schema and exit (0 = up to date).
if (args is ["migrate", ..])
{
    return await MigrateCommand.RunAsync(args[1..]);
}

// A silo on its own: the same grain setup the gateway co-hosts in embedded mode, plus the health
// endpoints an orchestrator probes (default http://127.0.0.1:8081; set `urls` to change).
return await ExitCodes.RunAsync(() =>
{
    var builder = WebApplication.CreateBuilder(args);
    if (string.IsNullOrEmpty(builder.Configuration["urls"]))
    {
        builder.WebHost.UseUrls("http://127.0.0.1:8081");
    }

    builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
    builder.AddTwinSilo();
    builder.AddTwinTelemetry("twin-silo");
    builder.Services.AddTwinSiloHealthChecks();
    var app = builder.Build();
    app.MapTwinSiloHealth();
    app.MapTwinMetrics();
    return app;
}, "silo");
