using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tivo.GrainInterfaces.Hosting;
using Tivo.Silo.Hosting;

namespace Tivo.Silo;

/// <summary>
/// <c>Tivo.Silo schema [--Tivo:…=…]</c>: creates every table the configured cluster needs, then exits — Orleans'
/// membership tables (<c>Tivo:Orleans:Clustering=AdoNet</c>), its session storage (<c>Persistence=AdoNet</c>) and the
/// event store's own (<c>Tivo:Store:CreateSchema</c> / <c>CreateTable</c> taken as true). Idempotent; the one-shot job
/// of a deployment, so silos need no rights to create tables.
/// </summary>
public static class SchemaCommand
{
    /// <summary>Returns the process exit code: 0 done, 1 the database refused or could not be reached.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var builder = Host.CreateApplicationBuilder([.. args.Skip(1), "--Tivo:Store:CreateSchema=true", "--Tivo:Store:CreateTable=true", "--Tivo:Store:SeedDemoData=false"]);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.None);
        try
        {
            var orleans = TivoOrleansOptions.Read(builder.Configuration);
            builder.Services.AddTivoGrainServices(builder.Configuration);
            using var host = builder.Build();
            if (orleans.Clustering == ClusteringKind.AdoNet)
            {
                await OrleansPostgreSqlClustering.ApplyAsync(orleans.EffectiveClusteringConnectionString!, CancellationToken.None);
                await output.WriteLineAsync("schema: Orleans membership tables are in place.");
            }

            if (orleans.Persistence == PersistenceKind.AdoNet)
            {
                await OrleansPostgreSqlSchema.ApplyAsync(orleans.PersistenceConnectionString!, CancellationToken.None);
                await output.WriteLineAsync("schema: Orleans session storage tables are in place.");
            }

            await host.StartAsync(); // the store's initializer creates its tables and checks the mapping
            await host.StopAsync();
            await output.WriteLineAsync($"schema: the {builder.Configuration["Tivo:Store:Kind"] ?? "Embedded"} event store's tables are in place.");
            return 0;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            await error.WriteLineAsync($"schema: {ex.Message}");
            return 1;
        }
    }
}
