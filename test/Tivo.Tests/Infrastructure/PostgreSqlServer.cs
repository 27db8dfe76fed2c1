using Xunit;

namespace Tivo.Tests.Infrastructure;

/// <summary>One PostgreSQL server for the test classes of <see cref="PostgreSqlCollection"/>.</summary>
public sealed class PostgreSqlServerFixture : IAsyncLifetime
{
    public Tivo.Testing.PostgreSqlServer Server { get; } = new();

    public Task InitializeAsync() => Server.StartNewAsync();

    public Task DisposeAsync() => Server.DisposeAsync().AsTask();
}

/// <summary>Test classes in this collection share one PostgreSQL server.</summary>
[CollectionDefinition(Name)]
public sealed class PostgreSqlCollection : ICollectionFixture<PostgreSqlServerFixture>
{
    public const string Name = "PostgreSQL";
}
