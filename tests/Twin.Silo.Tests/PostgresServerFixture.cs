using Twin.Testing;

namespace Twin.Silo.Tests;

/// <summary>A throwaway PostgreSQL server shared by a test class; each test creates its own database.</summary>
public sealed class PostgresServerFixture : SharedPostgres, IAsyncLifetime;
