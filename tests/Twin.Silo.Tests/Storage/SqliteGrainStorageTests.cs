using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Serialization;
using Twin.Silo.Storage;

namespace Twin.Silo.Tests.Storage;

/// <summary>The embedded grain storage under a steady stream of writes, as many twins make it.</summary>
public sealed class SqliteGrainStorageTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "twin-sqlite-" + Guid.NewGuid().ToString("N"));
    private readonly ServiceProvider _services = new ServiceCollection().AddSerializer().BuildServiceProvider();

    private string DbPath => Path.Combine(_directory, "twin.db");

    private SqliteGrainStorage Open() =>
        new(DbPath, fullSync: true, _services.GetRequiredService<Serializer>(), NullLogger<SqliteGrainStorage>.Instance);

    [Fact]
    public async Task The_write_ahead_log_stays_bounded_while_writes_never_pause_and_every_last_write_is_kept()
    {
        // 200 twins write 4 KB states, 150 times each, without pause: 120 MB through the log. The
        // writer does not checkpoint (that would stall every commit); the side loop must keep up.
        const int twins = 200, rounds = 150, size = 4096;
        var storage = Open();
        var states = Enumerable.Range(0, twins).Select(_ => new GrainState<byte[]>()).ToArray();
        var largestLog = 0L;
        for (var round = 0; round < rounds; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, twins).Select(t =>
            {
                var payload = new byte[size];
                Array.Fill(payload, (byte)round);
                BitConverter.TryWriteBytes(payload, t);
                states[t].State = payload;
                return storage.WriteStateAsync("machine", GrainId.Create("machine", $"f/m{t}"), states[t]);
            }));
            largestLog = Math.Max(largestLog, LogSize());
        }

        Assert.True(largestLog < 32L << 20, $"the write-ahead log reached {largestLog >> 20} MB for {(long)twins * rounds * size >> 20} MB written");

        await storage.StopAsync();
        storage.Dispose();
        var reopened = Open();
        for (var t = 0; t < twins; t++)
        {
            var read = new GrainState<byte[]>();
            await reopened.ReadStateAsync("machine", GrainId.Create("machine", $"f/m{t}"), read);
            Assert.Equal(t, BitConverter.ToInt32(read.State!));
            Assert.Equal((byte)(rounds - 1), read.State![size - 1]);
            Assert.Equal(rounds.ToString(System.Globalization.CultureInfo.InvariantCulture), read.ETag);
        }

        await reopened.StopAsync();
        reopened.Dispose();
    }

    private long LogSize() => File.Exists(DbPath + "-wal") ? new FileInfo(DbPath + "-wal").Length : 0;

    public void Dispose()
    {
        _services.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
