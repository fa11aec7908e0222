using Twin.Grains.Domain;
using Twin.Lines;
using Twin.Machines;

namespace Twin.Grains.Tests.Domain;

public class LineRollupTests
{
    private static MachineSummary M(string id, MachineStatus status, double rate = 0) => new(id, 1, status, null, 0, 0, rate, 0, "l");

    [Fact]
    public void Status_rolls_up_from_the_reporting_machines()
    {
        Assert.Equal(LineStatus.Unknown, LineRollup.Status([]));
        Assert.Equal(LineStatus.Unknown, LineRollup.Status([M("a", MachineStatus.Unknown)]));
        Assert.Equal(LineStatus.Running, LineRollup.Status([M("a", MachineStatus.Running), M("b", MachineStatus.Unknown)]));
        Assert.Equal(LineStatus.PartlyIdle, LineRollup.Status([M("a", MachineStatus.Running), M("b", MachineStatus.Idle)]));
        Assert.Equal(LineStatus.Idle, LineRollup.Status([M("a", MachineStatus.Idle)]));
        Assert.Equal(LineStatus.Impaired, LineRollup.Status([M("a", MachineStatus.Running), M("b", MachineStatus.Offline)]));
        Assert.Equal(LineStatus.Impaired, LineRollup.Status([M("a", MachineStatus.Down)]));
    }

    [Fact]
    public void Throughput_is_the_output_machine_rate()
    {
        Assert.Equal(7, LineRollup.Throughput([M("a", MachineStatus.Running, 20), M("b", MachineStatus.Running, 7)]));
        Assert.Equal(0, LineRollup.Throughput([]));
    }

    [Fact]
    public void Validation_rejects_bad_and_repeated_machine_ids()
    {
        var errors = LineRollup.Validate(new LineDefinition("x", ["a", "a", "b/c"]));
        Assert.Equal(2, errors.Count);
    }
}
