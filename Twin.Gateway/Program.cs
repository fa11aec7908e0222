using Twin.Gateway;

var builder = WebApplication.CreateBuilder(args);
builder.AddTwinGateway();

var app = builder.Build();
app.MapTwinGateway();
await app.RunAsync();

/// <summary>The gateway's entry point, visible to tests.</summary>
public partial class Program;
