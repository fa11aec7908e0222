namespace Twin.Testing;

/// <summary>
/// One throwaway PostgreSQL server in its own folder, for a whole test class to share (each test
/// creates its own database). A test project makes it a fixture by adding its framework's
/// lifetime interface: <c>class PostgresServerFixture : SharedPostgres, IAsyncLifetime;</c>.
/// </summary>
public class SharedPostgres
{
    private readonly TempDirectory _temp = new();

    public PostgresProcess Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await PostgresProcess.StartAsync(_temp.Sub("postgres"));

    public async Task DisposeAsync()
    {
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }

        _temp.Dispose();
    }
}
