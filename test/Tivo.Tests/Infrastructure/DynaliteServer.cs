using Xunit;

namespace Tivo.Tests.Infrastructure;

/// <summary>One dynalite server for the test classes of <see cref="DynamoDBCollection"/>.</summary>
public sealed class DynaliteServerFixture : IAsyncLifetime
{
    public Tivo.Testing.DynaliteServer Server { get; } = new();

    public Task InitializeAsync() => Server.StartNewAsync();

    public Task DisposeAsync() => Server.DisposeAsync().AsTask();
}

/// <summary>Test classes in this collection share one dynalite server.</summary>
[CollectionDefinition(Name)]
public sealed class DynamoDBCollection : ICollectionFixture<DynaliteServerFixture>
{
    public const string Name = "DynamoDB";
}
