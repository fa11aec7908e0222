using System.CodeDom.Compiler;
using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Twin.Gateway.Security;
using Twin.Grains.Domain;
using Twin.Hosting;
using Twin.Ingestion;
using Twin.Silo;

namespace Twin.Gateway.Tests.Hosting;

/// <summary>
/// Every options class of the product follows the one convention (<see cref="ITwinOptions"/>): a
/// <c>Section</c> constant, a source-generated validator registered by the real hosting, and a
/// bad value that fails naming its full configuration key. A new options class fails here until
/// it follows the convention and has a row in <see cref="BadValues"/>.
/// </summary>
public sealed class SettingsValidationTests
{
    private static readonly Assembly[] Product =
    [
        typeof(ITwinOptions).Assembly,
        typeof(MachineTwinOptions).Assembly,
        typeof(IngestOptions).Assembly,
        typeof(TwinStorageOptions).Assembly,
        typeof(TwinSiloHosting).Assembly,
        typeof(GatewayOptions).Assembly,
    ];

    /// <summary>One bad value per options class: the setting, its value, and what the failure must say.</summary>
    private static readonly Dictionary<Type, (string Key, string Value, string Failure)> BadValues = new()
    {
        [typeof(GatewayOptions)] = ("Twin:Gateway:Mode", "Hybrid", "Twin:Gateway:Mode is 'Hybrid'; use 'Embedded' or 'Client'."),
        [typeof(BrokerOptions)] = ("Twin:Broker:Port", "70000", "Twin:Broker:Port must be from 1 to 65535; it is 70000."),
        [typeof(MqttOptions)] = ("Twin:Mqtt:MaxInFlight", "0", "Twin:Mqtt:MaxInFlight must be from 1 to 65535; it is 0."),
        [typeof(SimulatorOptions)] = ("Twin:Simulator:Interval", "00:00:00.001", "Twin:Simulator:Interval must be from 00:00:00.010 to 01:00:00"),
        [typeof(HttpLimitsOptions)] = ("Twin:Http:MaxEventBodyBytes", "10", "Twin:Http:MaxEventBodyBytes must be from 1024"),
        [typeof(Twin.Gateway.Live.LiveOptions)] = ("Twin:Live:SubscribeBurst", "0", "Twin:Live:SubscribeBurst must be from 1"),
        [typeof(Twin.Gateway.Uns.UnsPublishOptions)] = ("Twin:Uns:Publish:Qos", "5", "Twin:Uns:Publish:Qos is 5; use 0, 1 or 2."),
        [typeof(AuthOptions)] = ("Twin:Auth:Mode", "Jwts", "Twin:Auth:Mode is 'Jwts'; use 'None' or 'Jwt'."),
        [typeof(TwinStorageOptions)] = ("Twin:Storage:SqlitePath", " ", "Twin:Storage:SqlitePath must name a file."),
        [typeof(TwinClusterOptions)] = ("Twin:Cluster:SiloPort", "0", "Twin:Cluster:SiloPort must be from 1 to 65535; it is 0."),
        [typeof(LiveStreamOptions)] = ("Twin:Live:Queues", "0", "Twin:Live:Queues must be from 1 to 64; it is 0."),
        [typeof(TwinTelemetryOptions)] = ("Twin:Telemetry:OtlpEndpoint", "otel collector", "Twin:Telemetry:OtlpEndpoint 'otel collector' is not an absolute URI"),
        [typeof(IngestOptions)] = ("Twin:Ingest:MaxPayloadBytes", "10", "Twin:Ingest:MaxPayloadBytes must be from 256 to 16777216; it is 10."),
        [typeof(Twin.Ingestion.Sparkplug.SparkplugOptions)] = ("Twin:Sparkplug:RebirthInterval", "00:00:00", "Twin:Sparkplug:RebirthInterval must be from 00:00:00.1 to 01:00:00"),
        [typeof(ProfilesOptions)] = ("Twin:Profiles:plant:Sensors:temp:Unit", "parsecs", "Twin:Profiles:plant:Sensors:temp:Unit 'parsecs' is not a known unit."),
        [typeof(Twin.Grains.Planning.PlanningOptions)] = ("Twin:Planning:TimeLimit", "00:30:00", "Twin:Planning:TimeLimit must be from 00:00:00.2 to 00:10:00; it is 00:30:00."),
        [typeof(Twin.Grains.Live.LiveFeedOptions)] = ("Twin:Live:MaxUpdatesPerSecond", "500", "Twin:Live:MaxUpdatesPerSecond must be from 0.1 to 100; it is 500."),
        [typeof(MachineTwinOptions)] = ("Twin:Machine:Prediction:Points", "2", "Twin:Machine:Prediction:Points must be from 3 to 128; it is 2."),
        [typeof(Twin.Grains.Maintenance.MaintenanceOptions)] = ("Twin:Maintenance:EscalateAfter", "00:00:30", "Twin:Maintenance:EscalateAfter must be from 00:01:00"),
        [typeof(Twin.Grains.Quality.QualityOptions)] = ("Twin:Quality:SubgroupSize", "11", "Twin:Quality:SubgroupSize must be from 1 to 10; it is 11."),
        [typeof(Twin.Grains.Effects.EffectOptions)] = ("Twin:Effects:Window", "13:00:00", "Twin:Effects:Window must be from 00:00:10 to 12:00:00"),
        [typeof(Twin.Grains.Infrastructure.OutboxOptions)] = ("Twin:Outbox:MaxEntries", "5", "Twin:Outbox:MaxEntries must be from 10 to 1000000; it is 5."),
        [typeof(Twin.Silo.History.TwinHistoryOptions)] = ("Twin:History:RawRetention", "00:10:00", "Twin:History:RawRetention must be from 01:00:00"),
        [typeof(Twin.Silo.Integration.OutboundOptions)] = ("Twin:Outbound:Mqtt:Port", "0", "Twin:Outbound:Mqtt:Port must be from 1 to 65535; it is 0."),
    };

    private static readonly Lazy<string> EmptyRoot = new(() => Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "twin-settings-validation")).FullName);

    public static TheoryData<Type> OptionsTypes() => [.. Options()];

    [Fact]
    public void Every_options_class_is_bound_from_a_section_or_validated_as_part_of_one()
    {
        var top = Options().ToHashSet();
        var parts = top.SelectMany(t => t.GetProperties())
            .Where(p => p.GetCustomAttribute<ValidateObjectMembersAttribute>() is not null)
            .Select(p => p.PropertyType)
            .ToHashSet();
        var named = Product.SelectMany(a => a.GetTypes())
            .Where(t => t.IsClass && !t.IsAbstract && t.Name.EndsWith("Options", StringComparison.Ordinal) && t.Namespace?.StartsWith("Twin", StringComparison.Ordinal) == true);
        var loose = named.Where(t => !top.Contains(t) && !parts.Contains(t)).Select(t => t.FullName).ToList();
        Assert.True(loose.Count == 0, "options classes that are neither ITwinOptions nor a [ValidateObjectMembers] part of one: " + string.Join(", ", loose));
    }

    [Fact]
    public void Every_options_class_has_a_bad_value_here()
    {
        var missing = Options().Where(t => !BadValues.ContainsKey(t)).Select(t => t.FullName).ToList();
        Assert.True(missing.Count == 0, "add a row to BadValues for: " + string.Join(", ", missing));
    }

    [Theory]
    [MemberData(nameof(OptionsTypes))]
    public void An_options_class_names_its_section_in_a_constant(Type options)
    {
        var section = options.GetField("Section", BindingFlags.Public | BindingFlags.Static);
        Assert.True(section is { IsLiteral: true } && section.FieldType == typeof(string), $"{options.Name} has no public const string Section");
        Assert.StartsWith("Twin:", (string)section.GetRawConstantValue()!, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(OptionsTypes))]
    public async Task The_hosting_registers_only_the_generated_validator(Type options)
    {
        await using var app = Gateway([]);
        var validators = app.Services.GetServices(typeof(IValidateOptions<>).MakeGenericType(options)).ToList();
        var validator = Assert.Single(validators);
        var type = validator!.GetType();
        Assert.Equal(typeof(SettingKeyValidator<,>), type.GetGenericTypeDefinition());
        var generated = type.GetGenericArguments()[1];
        Assert.NotNull(generated.GetCustomAttribute<OptionsValidatorAttribute>());
        var validate = generated.GetMethod(nameof(IValidateOptions<object>.Validate), [typeof(string), options]);
        Assert.Equal("Microsoft.Extensions.Options.SourceGeneration", validate?.GetCustomAttribute<GeneratedCodeAttribute>()?.Tool);
    }

    [Theory]
    [MemberData(nameof(OptionsTypes))]
    public async Task A_bad_value_fails_naming_its_key(Type options)
    {
        var (key, value, failure) = BadValues[options];
        Assert.StartsWith(key, failure, StringComparison.Ordinal);
        var message = await FailureAsync(options, new() { [key] = value });
        Assert.Contains(failure, message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Twin.Gateway", "Twin:Machine:Analytics:RaiseScore", "2")]
    [InlineData("Twin.Silo", "Twin:Machine:Analytics:RaiseScore", "2")]
    public async Task A_bad_setting_stops_the_process_with_the_configuration_exit_code(string program, string key, string value)
    {
        using var temp = new Twin.Testing.TempDirectory();
        var dll = Twin.Testing.Repository.ProgramDll(program);
        await using var process = Twin.Testing.ChildProcess.Start("dotnet",
        [
            dll, $"--{key}={value}", "--Twin:Simulator:Enabled=false", $"--Twin:Broker:Port={Twin.Testing.Ports.Free()}",
            $"--Twin:Storage:SqlitePath={temp.Sub("twin.db")}", $"--urls=http://127.0.0.1:{Twin.Testing.Ports.Free()}",
        ], Path.GetDirectoryName(dll));
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == ExitCodes.Configuration, $"exit code {exit}:\n{process.Output}");
        Assert.Contains($"did not start: {key}", process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", process.Output, StringComparison.Ordinal);
    }

    /// <summary>Settings read while the host is composed (a mode decides what is registered), values the binder cannot convert, and addresses Kestrel cannot read.</summary>
    [Theory]
    [InlineData("Twin.Gateway", "Twin:Gateway:Mode", "Foo", "did not start: Twin:Gateway:Mode is 'Foo'; use 'Embedded' or 'Client'.")]
    [InlineData("Twin.Gateway", "Twin:Mqtt:Port", "70000", "did not start: Twin:Mqtt:Port must be from 1 to 65535; it is 70000.")]
    [InlineData("Twin.Gateway", "Twin:Mqtt:Port", "abc", "did not start: Failed to convert configuration value 'abc' at 'Twin:Mqtt:Port'")]
    [InlineData("Twin.Gateway", "Twin:Cluster:Membership", "PostgreSql", "did not start: Twin:Cluster:Membership is 'PostgreSql' but Twin:Storage:ConnectionString is not set", "--Twin:Gateway:Mode=Client")]
    [InlineData("Twin.Gateway", "urls", "http://127.0.0.1:99999", "did not start: an address in urls (or ASPNETCORE_URLS) is not valid")]
    [InlineData("Twin.Silo", "Twin:Storage:Provider", "Oracle", "did not start: Twin:Storage:Provider is 'Oracle'; use 'Sqlite', 'PostgreSql' or 'Memory'.")]
    [InlineData("Twin.Silo", "Twin:Cluster:SiloPort", "70000", "did not start: Twin:Cluster:SiloPort must be from 1 to 65535; it is 70000.")]
    public async Task A_setting_read_while_composing_stops_the_process_with_the_configuration_exit_code(string program, string key, string value, string failure, string? also = null)
    {
        using var temp = new Twin.Testing.TempDirectory();
        var dll = Twin.Testing.Repository.ProgramDll(program);
        List<string> arguments = [dll, .. also is null ? Array.Empty<string>() : [also], "--Twin:Simulator:Enabled=false", $"--Twin:Broker:Port={Twin.Testing.Ports.Free()}", $"--Twin:Storage:SqlitePath={temp.Sub("twin.db")}"];
        arguments.Add(key == "urls" ? $"--urls={value}" : $"--urls=http://127.0.0.1:{Twin.Testing.Ports.Free()}");
        if (key != "urls")
        {
            arguments.Add($"--{key}={value}");
        }

        await using var process = Twin.Testing.ChildProcess.Start("dotnet", [.. arguments], Path.GetDirectoryName(dll));
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == ExitCodes.Configuration, $"exit code {exit}:\n{process.Output}");
        Assert.Contains(failure, process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", process.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(typeof(BrokerOptions), "Twin:Broker:Devices:0:Username", "press-1", "Twin:Broker:Devices:0:Password must be at least 8 characters.")]
    [InlineData(typeof(BrokerOptions), "Twin:Broker:Devices:0:Password", "long enough", "Twin:Broker:Devices:0:Username is required")]
    [InlineData(typeof(MachineTwinOptions), "Twin:Machine:Analytics:RaiseScore", "2", "Twin:Machine:Analytics:RaiseScore must be from 0 to 1; it is 2.")]
    [InlineData(typeof(MachineTwinOptions), "Twin:Machine:Prediction:MinPoints", "100", "Twin:Machine:Prediction:MinPoints (100) must be at most Twin:Machine:Prediction:Points (60).")]
    [InlineData(typeof(TwinStorageOptions), "Twin:Storage:Provider", "7", "Twin:Storage:Provider is '7'; use 'Sqlite', 'PostgreSql' or 'Memory'.")]
    [InlineData(typeof(TwinStorageOptions), "Twin:Storage:Provider", "PostgreSql", "Twin:Storage:ConnectionString is required when Twin:Storage:Provider is 'PostgreSql'")]
    [InlineData(typeof(Twin.Silo.History.TwinHistoryOptions), "Twin:History:AggregateRetention", "02:00:00", "Twin:History:AggregateRetention (02:00:00) must be at least Twin:History:RawRetention (7.00:00:00).")]
    [InlineData(typeof(Twin.Silo.Integration.OutboundOptions), "Twin:Outbound:Webhooks:0:Url", "ftp://erp", "Twin:Outbound:Webhooks:0:Url 'ftp://erp' must be an absolute http(s) URL.")]
    [InlineData(typeof(Twin.Ingestion.Sparkplug.SparkplugOptions), "Twin:Sparkplug:Factories:line", "a/b", "Twin:Sparkplug:Factories:line 'a/b' is not a factory id")]
    public async Task Items_parts_and_rules_across_settings_name_their_keys(Type options, string key, string value, string failure)
    {
        var message = await FailureAsync(options, new() { [key] = value });
        Assert.Contains(failure, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cluster_membership_on_PostgreSQL_needs_the_silos_storage_there_too()
    {
        var message = await FailureAsync(typeof(TwinClusterOptions), new() { ["Twin:Cluster:Membership"] = "PostgreSql", ["Twin:Storage:ConnectionString"] = "Host=db" });
        Assert.Contains("Twin:Cluster:Membership 'PostgreSql' needs Twin:Storage:Provider 'PostgreSql'", message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The configuration binder appends to a list it finds filled: a default item would stay beside
    /// the configured ones (a default group <c>+</c> beside <c>Groups:0=plant-a</c> took every group).
    /// So no list setting has default items, in any options class or its parts.
    /// </summary>
    [Theory]
    [MemberData(nameof(OptionsTypes))]
    public void A_list_setting_starts_empty_so_configuration_replaces_it(Type options)
    {
        var filled = new List<string>();
        void Check(Type type, object instance, string path, int depth)
        {
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanRead && p.CanWrite && p.GetIndexParameters().Length == 0))
            {
                var value = property.GetValue(instance);
                if (value is System.Collections.IEnumerable items and not string and not System.Collections.IDictionary)
                {
                    if (items.Cast<object?>().Any())
                    {
                        filled.Add($"{path}:{property.Name}");
                    }

                    // The items' own lists (Devices:0:Machines) bind the same way.
                    var item = property.PropertyType.IsGenericType ? property.PropertyType.GetGenericArguments()[0] : property.PropertyType.GetElementType();
                    if (depth < 2 && item is { IsClass: true } && item != typeof(string) && item.GetConstructor(Type.EmptyTypes) is not null)
                    {
                        Check(item, Activator.CreateInstance(item)!, $"{path}:{property.Name}:0", depth + 1);
                    }
                }
                else if (depth < 2 && value is not null && property.PropertyType.IsClass && property.PropertyType != typeof(string) && property.PropertyType.Namespace?.StartsWith("Twin", StringComparison.Ordinal) == true)
                {
                    Check(property.PropertyType, value, $"{path}:{property.Name}", depth + 1);
                }
            }
        }

        var section = (string)options.GetField("Section")!.GetRawConstantValue()!;
        Check(options, Activator.CreateInstance(options)!, section, 0);
        Assert.True(filled.Count == 0, "list settings with default items (configuration would add to them, not replace them): " + string.Join(", ", filled));
    }

    [Fact]
    public void Configured_sparkplug_groups_are_the_only_ones_subscribed()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Twin:Sparkplug:Groups:0"] = "plant-a",
            ["Twin:Sparkplug:Groups:1"] = "line-7",
        }).Build();
        var sparkplug = configuration.GetTwinOptions<Twin.Ingestion.Sparkplug.SparkplugOptions, Twin.Ingestion.Sparkplug.SparkplugOptionsValidator>();
        Assert.Equal(["plant-a", "line-7"], sparkplug.Groups);
        Assert.Equal(["spBv1.0/plant-a/#", "spBv1.0/line-7/#"], sparkplug.Filters);
        Assert.False(sparkplug.Consumes("plant-b"));

        var every = new ConfigurationBuilder().Build().GetTwinOptions<Twin.Ingestion.Sparkplug.SparkplugOptions, Twin.Ingestion.Sparkplug.SparkplugOptionsValidator>();
        Assert.Equal(["spBv1.0/+/#"], every.Filters);
        Assert.True(every.Consumes("plant-b"));
    }

    [Theory]
    [InlineData("+", "plant-a", "Twin:Sparkplug:Groups:0 is '+' (every group) beside other groups")]
    [InlineData("plant-a", "+", "Twin:Sparkplug:Groups:1 is '+' (every group) beside other groups")]
    [InlineData("plant-a", "plant-a", "Twin:Sparkplug:Groups:1 'plant-a' is also Twin:Sparkplug:Groups:0")]
    [InlineData("plant-a", "a/b", "Twin:Sparkplug:Groups:1 'a/b' must be '+' or a group id")]
    public async Task Overlapping_sparkplug_groups_are_refused_naming_the_index(string first, string second, string failure)
    {
        var message = await FailureAsync(typeof(Twin.Ingestion.Sparkplug.SparkplugOptions), new() { ["Twin:Sparkplug:Groups:0"] = first, ["Twin:Sparkplug:Groups:1"] = second });
        Assert.Contains(failure, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_defaults_are_valid()
    {
        await using var app = Gateway([]);
        Assert.All(Options(), options => Assert.NotNull(Read(app, options)));
    }

    private static IEnumerable<Type> Options() =>
        Product.SelectMany(a => a.GetTypes()).Where(t => t.IsClass && !t.IsAbstract && typeof(ITwinOptions).IsAssignableFrom(t)).OrderBy(t => t.FullName, StringComparer.Ordinal);

    /// <summary>
    /// Composes the embedded gateway (which hosts the silo too) with <paramref name="settings"/> and
    /// reads <paramref name="options"/>: the failure either stops the composition (settings read
    /// before the host starts) or comes when the options are read (as at start).
    /// </summary>
    private static async Task<string> FailureAsync(Type options, Dictionary<string, string?> settings)
    {
        try
        {
            await using var app = Gateway(settings);
            Read(app, options);
        }
        catch (Exception ex) when (Unwrap(ex) is OptionsValidationException failed)
        {
            return failed.Message;
        }

        Assert.Fail($"{options.Name} took {string.Join(", ", settings.Select(s => $"{s.Key}={s.Value}"))}");
        return "";
    }

    /// <summary><c>IOptions&lt;T&gt;.Value</c>: binds and validates.</summary>
    private static object? Read(WebApplication app, Type options)
    {
        var accessor = app.Services.GetRequiredService(typeof(IOptions<>).MakeGenericType(options));
        return accessor.GetType().GetProperty(nameof(IOptions<object>.Value))!.GetValue(accessor);
    }

    private static Exception Unwrap(Exception ex) => ex is TargetInvocationException { InnerException: { } inner } ? inner : ex;

    private static WebApplication Gateway(Dictionary<string, string?> settings)
    {
        // An empty content root: no appsettings.json but these settings (nothing is written there).
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = EmptyRoot.Value, EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Twin:Storage:Provider"] = "Memory",
            ["Twin:Simulator:Enabled"] = "false",
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddTwinGateway();
        return builder.Build();
    }
}
