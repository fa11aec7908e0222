using Microsoft.Extensions.Hosting;
using Twin.Silo;

// A silo on its own: the same grain setup the gateway co-hosts in embedded mode.
var builder = Host.CreateApplicationBuilder(args);
builder.AddTwinSilo();
using var host = builder.Build();
await host.RunAsync();
