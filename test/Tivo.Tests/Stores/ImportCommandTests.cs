using Tivo.Silo;
using Tivo.Stores.PostgreSql;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Stores;

/// <summary>The silo's import command, writing a CSV file into a real PostgreSQL store.</summary>
[Collection(PostgreSqlCollection.Name)]
public sealed class ImportCommandTests(PostgreSqlServerFixture postgres)
{
    [Fact]
    public async Task A_csv_file_is_imported_into_postgresql_and_a_bad_file_writes_nothing()
    {
        using var directory = new TempDirectory();
        var connectionString = await postgres.Server.CreateDatabaseAsync("import");
        var good = directory.File("trips.csv");
        await File.WriteAllTextAsync(good, "pickup_time,zone,fare\n2016-01-15T08:00:00Z,Midtown,12.5\n2016-01-15T08:00:02.25Z,SoHo,7\n");
        var bad = directory.File("bad.csv");
        await File.WriteAllTextAsync(bad, "pickup_time,zone\n2016-01-15T09:00:00Z,Harlem\nyesterday,SoHo\n");
        string[] store = ["--Tivo:Store:Kind=PostgreSql", $"--Tivo:Store:ConnectionString={connectionString}", "--Tivo:Store:CreateSchema=true"];

        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(0, await ImportCommand.RunAsync(["import", good, "--channel", "trips", "--time-column", "pickup_time", .. store], output, error));
        Assert.Contains("Imported 2 events into channel 'trips'", output.ToString(), StringComparison.Ordinal);

        Assert.Equal(1, await ImportCommand.RunAsync(["import", bad, "--channel", "trips", "--time-column", "pickup_time", .. store], output, error));
        Assert.Contains("nothing was written", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("line 3", error.ToString(), StringComparison.Ordinal);

        Assert.Equal(1, await ImportCommand.RunAsync(["import", good, .. store], output, error));
        Assert.Contains("--channel is required", error.ToString(), StringComparison.Ordinal);

        await using var reader = await PostgreSqlMappingTests.TivoSchemaStoreAsync(connectionString);
        var channels = await reader.ListChannelsAsync(CancellationToken.None);
        Assert.Equal(2, channels.Single(c => c.Name == "trips").Count);
    }
}
