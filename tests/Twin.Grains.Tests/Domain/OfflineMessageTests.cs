using Twin.Grains.Domain;
using Twin.Machines;

namespace Twin.Grains.Tests.Domain;

/// <summary>A death certificate (Sparkplug NDEATH/DDEATH) as the machine rules take it.</summary>
public class OfflineMessageTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
    private readonly MachineTwinOptions _options = new();

    [Fact]
    public void A_death_shows_offline_until_the_machine_is_heard_again()
    {
        var state = new MachineState();
        MachineRules.Apply(state, new StatusMessage(1, T0, MachineRunState.Running) { Source = "sparkplug" }, _options);
        MachineRules.Heard(state, T0);
        Assert.Equal(MachineStatus.Running, MachineRules.EffectiveStatus(state, T0, _options));

        Assert.Equal(SequenceVerdict.New, MachineRules.Apply(state, new OfflineMessage(2, T0.AddSeconds(1), "sparkplug.ddeath") { Source = "sparkplug" }, _options));
        MachineRules.Departed(state, T0.AddSeconds(1));
        Assert.Equal(MachineStatus.Offline, MachineRules.EffectiveStatus(state, T0.AddSeconds(1), _options));

        MachineRules.Apply(state, new TelemetryMessage(3, T0.AddSeconds(2), [new SensorReading("temperature", 20, "degC")]) { Source = "sparkplug" }, _options);
        Assert.True(MachineRules.Heard(state, T0.AddSeconds(2)));
        Assert.Equal(MachineStatus.Running, MachineRules.EffectiveStatus(state, T0.AddSeconds(2), _options));
    }

    [Fact]
    public void A_redelivered_death_changes_nothing()
    {
        var state = new MachineState();
        MachineRules.Apply(state, new OfflineMessage(1, T0, "sparkplug.ndeath") { Source = "sparkplug" }, _options);
        MachineRules.Apply(state, new TelemetryMessage(2, T0.AddSeconds(1), [new SensorReading("temperature", 20, "degC")]) { Source = "sparkplug" }, _options);
        MachineRules.Heard(state, T0.AddSeconds(1));
        Assert.Equal(SequenceVerdict.Duplicate, MachineRules.Apply(state, new OfflineMessage(1, T0, "sparkplug.ndeath") { Source = "sparkplug" }, _options));
        Assert.False(state.OfflineMarked);
    }
}
