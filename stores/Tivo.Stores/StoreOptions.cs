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
    public string Kind { get; set; } = StoreKinds.Embedded;
}

/// <summary>The store kinds Tivo knows by name.</summary>
public static class StoreKinds
{
    public const string Embedded = "Embedded";
    public const string PostgreSql = "PostgreSql";
    public const string Redshift = "Redshift";
    public const string DynamoDB = "DynamoDB";

    /// <summary>Every kind, for messages.</summary>
    public static readonly IReadOnlyList<string> All = [Embedded, PostgreSql, Redshift, DynamoDB];
}
