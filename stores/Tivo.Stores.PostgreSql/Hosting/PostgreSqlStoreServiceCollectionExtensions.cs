using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Tivo.Stores.PostgreSql;

/// <summary>Registers the PostgreSQL and Redshift stores.</summary>
public static class PostgreSqlStoreServiceCollectionExtensions
{
    /// <summary>Adds a <see cref="PostgreSqlEventStore"/> over PostgreSQL, configured from <c>Tivo:Store</c>.</summary>
    public static IServiceCollection AddTivoPostgreSqlStore(this IServiceCollection services) => services.AddStore(SqlDialect.PostgreSql);

    /// <summary>Adds a <see cref="PostgreSqlEventStore"/> speaking Redshift's SQL, with Npgsql type loading off.</summary>
    public static IServiceCollection AddTivoRedshiftStore(this IServiceCollection services) => services.AddStore(SqlDialect.Redshift);

    /// <summary>The key of the store's <see cref="NpgsqlDataSource"/> in the container (other parts may register their own).</summary>
    public const string DataSourceKey = "tivo-store";

    /// <summary>Builds a data source outside a container (tests, the benchmark); the caller disposes it.</summary>
    public static NpgsqlDataSource CreateDataSource(string connectionString, SqlDialect dialect)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        Configure(builder, dialect);
        return builder.Build();
    }

    /// <summary>UTC session time zone; for Redshift no type loading (it has no pg_type to load from).</summary>
    private static void Configure(NpgsqlDataSourceBuilder builder, SqlDialect dialect)
    {
        builder.ConnectionStringBuilder.Timezone = "UTC";
        if (dialect == SqlDialect.Redshift)
        {
            builder.ConfigureTypeLoading(t => t.EnableTypeLoading(false));
        }
    }

    private static IServiceCollection AddStore(this IServiceCollection services, SqlDialect dialect)
    {
        services.AddOptions<PostgreSqlStoreOptions>().BindConfiguration(StoreOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PostgreSqlStoreOptions>, PostgreSqlStoreOptionsValidator>());
        // Npgsql's own registration owns the data source: built on first use, disposed with the container.
        services.AddNpgsqlDataSource("", (sp, builder) =>
        {
            builder.ConnectionStringBuilder.ConnectionString = sp.GetRequiredService<IOptions<PostgreSqlStoreOptions>>().Value.ConnectionString;
            Configure(builder, dialect);
        }, serviceKey: DataSourceKey);
        services.TryAddSingleton(sp => new PostgreSqlEventStore(sp.GetRequiredKeyedService<NpgsqlDataSource>(DataSourceKey),
            sp.GetRequiredService<IOptions<PostgreSqlStoreOptions>>().Value, dialect, sp.GetRequiredService<ILogger<PostgreSqlEventStore>>()));
        services.TryAddSingleton<IEventStore>(sp => sp.GetRequiredService<PostgreSqlEventStore>());
        services.AddHostedService<PostgreSqlSchemaInitializer>();
        return services;
    }
}

/// <summary>At start: creates Tivo's schema when <c>Tivo:Store:CreateSchema</c> is true, then checks the table
/// mapping against the database's catalog. A mapping that names a missing table or column stops the start with
/// the setting to fix; a database that cannot be reached yet only logs a warning (plays answer
/// <c>store_unavailable</c> until it is back).</summary>
internal sealed partial class PostgreSqlSchemaInitializer(PostgreSqlEventStore store, IOptions<PostgreSqlStoreOptions> options, ILogger<PostgreSqlSchemaInitializer> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.CreateSchema)
        {
            await store.CreateSchemaAsync(cancellationToken);
        }

        try
        {
            await store.VerifyMappingAsync(cancellationToken);
        }
        catch (StoreUnavailableException ex)
        {
            LogUnverified(logger, ex.Message);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Warning, Message = "The table mapping was not checked at start: {Reason}")]
    private static partial void LogUnverified(ILogger logger, string reason);
}
