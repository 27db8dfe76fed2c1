namespace Tivo.Stores;

/// <summary>
/// Which backend serves events, bound from <c>Tivo:Store</c>. Backend-specific settings live in the
/// same section and are bound by that backend's own options class.
/// </summary>
public sealed class StoreOptions
{
    /// <summary>The configuration section (<c>Tivo:Store</c>).</summary>
    public const string SectionName = "Tivo:Store";

    /// <summary><c>Embedded</c> (default, SQLite file), <c>PostgreSql</c>, <c>Redshift</c> or <c>DynamoDB</c>.</summary>
    public StoreKind Kind { get; set; } = StoreKind.Embedded;
}

/// <summary>The stores Tivo reads events from (<see cref="StoreOptions.Kind"/>; names bind case-insensitively).</summary>
public enum StoreKind
{
    /// <summary>Tivo's own SQLite file (the default; nothing to install).</summary>
    Embedded,

    /// <summary>A PostgreSQL database: Tivo's table or yours, mapped.</summary>
    PostgreSql,

    /// <summary>Amazon Redshift, through its PostgreSQL protocol.</summary>
    Redshift,

    /// <summary>An Amazon DynamoDB table.</summary>
    DynamoDB,
}
