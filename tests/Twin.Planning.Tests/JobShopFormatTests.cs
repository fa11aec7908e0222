namespace Twin.Planning.Tests;

public sealed class JobShopFormatTests
{
    [Fact]
    public void Reads_comments_sizes_and_machine_duration_pairs()
    {
        const string text = "# a made-up instance\n#  two jobs, three machines\n2 3\n0 5 1 2 2 7\n2 1  0 4 1 3\n";
        var problem = JobShopFormat.Parse(text);
        Assert.Equal(["m0", "m1", "m2"], problem.Machines.Select(m => m.Id));
        Assert.Equal(2, problem.Jobs.Count);
        Assert.Equal([("m2", 1L), ("m0", 4L), ("m1", 3L)], problem.Jobs[1].Operations.Select(o => (o.Modes.Single().Machine, o.Modes.Single().Duration)));

        // Job 0 is 14 long, job 1 is 8; m0 carries 9, m1 5, m2 8: the optimum is at least 14, and
        // job 1 fits around job 0 (m2 0–1, m0 5–9, m1 9–12), so it is 14.
        var schedule = CpSatScheduler.Solve(problem, new SolverSettings(TimeSpan.FromSeconds(5)));
        Assert.Equal(14, schedule.Makespan);
        Assert.Equal(ScheduleStatus.Optimal, schedule.Status);
    }

    [Theory]
    [InlineData("")]
    [InlineData("2 3\n0 5 1 2 2 7\n")]
    [InlineData("1 2\n0 5 1\n")]
    [InlineData("1 2\n0 5 4 2\n")]
    public void Refuses_what_is_not_an_instance(string text) =>
        Assert.Throws<FormatException>(() => JobShopFormat.Parse(text));
}
