using System.Globalization;

namespace Tivo.Testing;

/// <summary>
/// A Tivo cluster as separate processes on one PostgreSQL database: silos (ADO.NET membership, sessions persisted
/// through ADO.NET, events in the PostgreSQL store) and gateways that find them in the membership table — the
/// production shape, without containers. Silos advertise 127.0.0.1 and take free ports.
/// </summary>
public sealed class TivoCluster(string connectionString, string clusterId) : IAsyncDisposable
{
    private int _siloCount;
    private int _gatewayCount;

    public string ConnectionString { get; } = connectionString;

    public string ClusterId { get; } = clusterId;

    public List<TivoProcess> Silos { get; } = [];

    public List<TivoProcess> Gateways { get; } = [];

    /// <summary>Starts <paramref name="silos"/> silos (the first alone, as it creates the tables) and <paramref name="gateways"/> gateways.</summary>
    public static async Task<TivoCluster> StartAsync(string connectionString, int silos, int gateways, params string[] settings)
    {
        var cluster = new TivoCluster(connectionString, "tivo-" + Guid.NewGuid().ToString("n")[..8]);
        try
        {
            await cluster.StartSiloAsync(settings);
            await Task.WhenAll(Enumerable.Range(1, silos - 1).Select(_ => cluster.StartSiloAsync(settings)));
            await Task.WhenAll(Enumerable.Range(0, gateways).Select(_ => cluster.StartGatewayAsync(settings)));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts one more silo, named silo-1, silo-2, … and waits until it is active in the membership.</summary>
    public async Task<TivoProcess> StartSiloAsync(params string[] settings)
    {
        var name = $"silo-{Interlocked.Increment(ref _siloCount)}";
        var silo = await TivoProcess.StartSiloAsync(name,
        [
            .. Orleans(), "--Tivo:Orleans:SiloName", name, "--Tivo:Orleans:AdvertisedAddress", "127.0.0.1",
            "--Tivo:Orleans:SiloPort", Free(), "--Tivo:Orleans:GatewayPort", Free(),
            "--Tivo:Orleans:CreateClusteringSchema", "true",
            "--Tivo:Orleans:Persistence", "AdoNet", "--Tivo:Orleans:PersistenceConnectionString", ConnectionString, "--Tivo:Orleans:CreatePersistenceSchema", "true",
            "--Tivo:Store:Kind", "PostgreSql", "--Tivo:Store:ConnectionString", ConnectionString, "--Tivo:Store:CreateSchema", "true",
            .. settings,
        ]);
        lock (Silos)
        {
            Silos.Add(silo);
        }

        return silo;
    }

    /// <summary>Starts one more gateway (an Orleans client reading the silos from the membership table).</summary>
    public async Task<TivoProcess> StartGatewayAsync(params string[] settings)
    {
        var gateway = await TivoProcess.StartGatewayAsync($"gateway-{Interlocked.Increment(ref _gatewayCount)}", [.. Orleans(), .. settings]);
        lock (Gateways)
        {
            Gateways.Add(gateway);
        }

        return gateway;
    }

    /// <summary>The silo named <paramref name="name"/>.</summary>
    public TivoProcess Silo(string name) => Silos.Single(s => s.Name == name);

    private string[] Orleans() =>
        ["--Tivo:Orleans:ClusterId", ClusterId, "--Tivo:Orleans:Clustering", "AdoNet", "--Tivo:Orleans:ClusteringConnectionString", ConnectionString];

    private static string Free() => TestPorts.Free().ToString(CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        foreach (var process in Gateways.Concat(Silos))
        {
            await process.DisposeAsync();
        }
    }
}
