using Orleans.Core;
using Twin.Grains.Infrastructure;

namespace Twin.Grains.Tests.Domain;

public class GroupCommitTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Commits_arriving_during_a_write_share_the_next_write()
    {
        var writes = new List<TaskCompletionSource>();
        var commit = new GroupCommit(new Storage(() =>
        {
            var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            writes.Add(tcs);
            return tcs.Task;
        }));

        var first = commit.CommitAsync();
        Assert.Single(writes);
        var during = Enumerable.Range(0, 50).Select(_ => commit.CommitAsync()).ToList();
        Assert.Single(writes);
        Assert.False(first.IsCompleted);

        writes[0].SetResult();
        await first.WaitAsync(Deadline);
        Assert.All(during, t => Assert.False(t.IsCompleted));

        await WaitUntil(() => writes.Count == 2);
        writes[1].SetResult();
        await Task.WhenAll(during).WaitAsync(Deadline);
        Assert.Equal(2, commit.Writes);
    }

    [Fact]
    public async Task WhenDurable_waits_for_pending_changes_and_is_immediate_when_clean()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var commit = new GroupCommit(new Storage(() => gate.Task));
        Assert.True(commit.WhenDurableAsync().IsCompleted);
        var pending = commit.CommitAsync();
        var durable = commit.WhenDurableAsync();
        Assert.False(durable.IsCompleted);
        gate.SetResult();
        await Task.WhenAll(pending, durable).WaitAsync(Deadline);
    }

    [Fact]
    public async Task A_failed_write_fails_every_waiter_and_poisons_the_instance()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var commit = new GroupCommit(new Storage(() => gate.Task));
        var first = commit.CommitAsync();
        var second = commit.CommitAsync();
        gate.SetException(new IOException("disk full"));
        await Assert.ThrowsAsync<IOException>(() => first.WaitAsync(Deadline));
        await Assert.ThrowsAsync<IOException>(() => second.WaitAsync(Deadline));
        Assert.NotNull(commit.Fault);
        await Assert.ThrowsAsync<InvalidOperationException>(() => commit.CommitAsync());
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met before the deadline");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task Once_idle_it_drains_at_once_and_the_next_change_starts_a_new_write()
    {
        var gates = new List<TaskCompletionSource>();
        var commit = new GroupCommit(new Storage(() =>
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            gates.Add(gate);
            return gate.Task;
        }));

        var first = commit.CommitAsync();
        var draining = commit.DrainAsync();
        Assert.False(draining.IsCompleted);
        gates[0].SetResult();
        await Task.WhenAll(first, draining).WaitAsync(Deadline);
        Assert.True(commit.DrainAsync().IsCompleted);

        var second = commit.CommitAsync();
        Assert.Equal(2, gates.Count);
        Assert.False(commit.DrainAsync().IsCompleted);
        gates[1].SetResult();
        await second.WaitAsync(Deadline);
        await commit.DrainAsync().WaitAsync(Deadline);
        Assert.Equal(2, commit.Writes);
    }

    [Fact]
    public async Task Closing_waits_for_the_write_in_flight_and_refuses_later_commits()
    {
        var gates = new List<TaskCompletionSource>();
        var commit = new GroupCommit(new Storage(() =>
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            gates.Add(gate);
            return gate.Task;
        }));

        var first = commit.CommitAsync();
        var closing = commit.CloseAsync(CancellationToken.None);
        Assert.False(closing.IsCompleted);

        // A continuation of the dying activation must not start a write of its own.
        var late = commit.CommitAsync();
        Assert.True(late.IsFaulted);
        Assert.IsType<InvalidOperationException>(late.Exception!.InnerException);

        gates[0].SetResult();
        await Task.WhenAll(first, closing).WaitAsync(Deadline);
        Assert.Single(gates);
        Assert.Equal(1, commit.Writes);
    }

    /// <summary>Grain storage whose writes the test controls.</summary>
    private sealed class Storage(Func<Task> write) : IStorage
    {
        public string? Etag => null;

        public bool RecordExists => false;

        public Task ClearStateAsync() => throw new NotSupportedException();

        public Task WriteStateAsync() => write();

        public Task ReadStateAsync() => throw new NotSupportedException();
    }
}
