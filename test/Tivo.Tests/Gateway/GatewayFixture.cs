using Tivo.Events;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Tivo.Gateway;
using Tivo.Tests.Infrastructure;
using Tivo.Testing;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>
/// A real gateway in embedded mode (co-hosted silo, SQLite store seeded with the demo data) on a
/// free 127.0.0.1 port, exactly as <c>dotnet run --project gateway/Tivo.Gateway</c> starts it.
/// </summary>
public sealed class GatewayFixture : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();
    private WebApplication? _app;

    public Uri HttpBase { get; private set; } = null!;

    public Uri WsBase => new(HttpBase.ToString().Replace("http://", "ws://", StringComparison.Ordinal));

    public string StorePath => _directory.File("tivo.db");

    public HttpClient Http { get; } = new();

    public IServiceProvider Services => _app!.Services;

    public async Task InitializeAsync()
    {
        // Backpressure off: these tests assert that dues follow the warp exactly, and on a loaded machine a push arriving late
        // would (rightly) hold the clock. BackpressureTests covers it.
        _app = await TestHosts.StartGatewayAsync("--Tivo:Store:Path", StorePath, "--Tivo:Gateway:MaxMessageBytes", "4096", "--Tivo:Gateway:LateReportThreshold", "00:00:00");
        HttpBase = _app.HttpBase();
        Http.BaseAddress = HttpBase;
    }

    /// <summary>The rows the store holds for <paramref name="channel"/> in [start, end): the ground truth tests compare against.</summary>
    public async Task<List<Tivo.Events.StoredEvent>> ReadStoreAsync(string channel, string start, string end)
    {
        var store = new Tivo.Stores.Embedded.SqliteEventStore(
            Microsoft.Extensions.Options.Options.Create(new Tivo.Stores.Embedded.EmbeddedStoreOptions { Path = StorePath }),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Tivo.Stores.Embedded.SqliteEventStore>.Instance);
        Tivo.Events.TimeUtil.TryParseIso(start, out var from);
        Tivo.Events.TimeUtil.TryParseIso(end, out var to);
        var events = new List<Tivo.Events.StoredEvent>();
        await foreach (var e in store.ReadAsync(channel, from, to, CancellationToken.None))
        {
            events.Add(e);
        }

        return events;
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        _directory.Dispose();
    }
}
