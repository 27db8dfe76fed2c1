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

    /// <summary>Creates the tables with the silo's <c>schema</c> command (the deployment's one-shot job), then starts
    /// <paramref name="silos"/> silos and <paramref name="gateways"/> gateways.</summary>
    public static async Task<TivoCluster> StartAsync(string connectionString, int silos, int gateways, params string[] settings)
    {
        var cluster = new TivoCluster(connectionString, "tivo-" + Guid.NewGuid().ToString("n")[..8]);
        try
        {
            cluster.SchemaOutput = await cluster.CreateSchemaAsync();
            await Task.WhenAll(Enumerable.Range(0, silos).Select(_ => cluster.StartSiloAsync(settings)));
            await Task.WhenAll(Enumerable.Range(0, gateways).Select(_ => cluster.StartGatewayAsync(settings)));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>What the cluster's schema job printed.</summary>
    public string SchemaOutput { get; private set; } = "";

    /// <summary>Runs <c>Tivo.Silo schema</c> with the cluster's settings; returns what it printed.</summary>
    public async Task<string> CreateSchemaAsync()
    {
        var info = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { GatewayProcess.BuiltDll("silo", "Tivo.Silo"), "schema" }.Concat(Orleans()).Concat(Store()).Concat(Persistence()))
        {
            info.ArgumentList.Add(a);
        }

        using var process = System.Diagnostics.Process.Start(info)!;
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"Tivo.Silo schema exited with {process.ExitCode}: {output}");
    }

    /// <summary>Starts one more silo, named silo-1, silo-2, … and waits until it is active in the membership.</summary>
    public async Task<TivoProcess> StartSiloAsync(params string[] settings)
    {
        var name = $"silo-{Interlocked.Increment(ref _siloCount)}";
        var silo = await TivoProcess.RetryingPortClashesAsync(() => TivoProcess.StartSiloAsync(name,
        [
            .. Orleans(), "--Tivo:Orleans:SiloName", name, "--Tivo:Orleans:AdvertisedAddress", "127.0.0.1",
            "--Tivo:Orleans:SiloPort", Free(), "--Tivo:Orleans:GatewayPort", Free(),
            .. Persistence(), .. Store(), .. settings,
        ]));
        lock (Silos)
        {
            Silos.Add(silo);
        }

        return silo;
    }

    /// <summary>Starts one more gateway (an Orleans client reading the silos from the membership table).</summary>
    public async Task<TivoProcess> StartGatewayAsync(params string[] settings)
    {
        var name = $"gateway-{Interlocked.Increment(ref _gatewayCount)}";
        var gateway = await TivoProcess.RetryingPortClashesAsync(() => TivoProcess.StartGatewayAsync(name, [.. Orleans(), .. settings]));
        lock (Gateways)
        {
            Gateways.Add(gateway);
        }

        return gateway;
    }

    /// <summary>The silo named <paramref name="name"/>.</summary>
    public TivoProcess Silo(string name) => Silos.Single(s => s.Name == name);

    private string[] Persistence() => ["--Tivo:Orleans:Persistence", "AdoNet", "--Tivo:Orleans:PersistenceConnectionString", ConnectionString];

    private string[] Store() => ["--Tivo:Store:Kind", "PostgreSql", "--Tivo:Store:ConnectionString", ConnectionString];

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
