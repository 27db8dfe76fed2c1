using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Tivo.Gateway;
using Tivo.Tests.Infrastructure;
using Tivo.Testing;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>The PostgreSQL server goes away in the middle of playback, and comes back.</summary>
[Collection(PostgreSqlCollection.Name)]
public sealed class StoreOutageTests(PostgreSqlServerFixture postgres)
{
    [Fact]
    public async Task Sessions_get_store_unavailable_and_playback_carries_on_without_loss_once_the_store_is_back()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("outage_gw");
        await using var app = await TestHosts.StartGatewayAsync(
            "--Tivo:Store:Kind", "PostgreSql",
            "--Tivo:Store:ConnectionString", connectionString,
            "--Tivo:Store:CreateSchema", "true",
            "--Tivo:Cache:ChunkSeconds", "1",
            "--Tivo:Playback:ReadAhead", "00:00:00.500",
            "--Logging:LogLevel:Default", "Error");
        var address = app.HttpBase();
        using var http = new HttpClient { BaseAddress = address };

        // 40 seconds of stream time, 5 events a second, played at speed 8 (5 s of wall time).
        var expected = Enumerable.Range(0, 200).Select(i => new DateTime(2031, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddMilliseconds(i * 200)).ToList();
        var body = string.Join('\n', expected.Select((t, i) => $"{{\"ts\":\"{t:O}\",\"data\":{{\"i\":{i}}}}}"));
        using (var response = await http.PostAsync("channels/meter/events", new StringContent(body, Encoding.UTF8, "application/x-ndjson")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await using var socket = await TestSocket.ConnectAsync(new Uri(address.ToString().Replace("http://", "ws://", StringComparison.Ordinal) + "channels/meter"));
        await socket.SendAsync("""{"action":"play","start":"2031-01-01T00:00:00Z","end":"2031-01-01T00:00:40Z","speed":8}""");
        var received = new List<int>();
        for (var i = 0; i < 5; i++)
        {
            received.Add((await socket.NextAsync("event")).GetProperty("data").GetProperty("i").GetInt32());
        }

        await postgres.Server.StopAsync();
        string? errorCode;
        try
        {
            while (true)
            {
                var message = await socket.NextNonClockAsync(TimeSpan.FromSeconds(30));
                var type = message.GetProperty("type").GetString();
                if (type == "event")
                {
                    received.Add(message.GetProperty("data").GetProperty("i").GetInt32());
                }
                else if (type == "error")
                {
                    errorCode = message.GetProperty("code").GetString();
                    break;
                }
            }

            // Joining while the store is away (a channel the catalog must ask the store about): a coded error
            // and close 1013 (try again later), not a silent close without hello.
            await using var joiner = await TestSocket.ConnectAsync(new Uri(address.ToString().Replace("http://", "ws://", StringComparison.Ordinal) + "channels/not-cached-yet"));
            var refused = await joiner.NextNonClockAsync();
            Assert.Equal("error", refused.GetProperty("type").GetString());
            Assert.Equal("store_unavailable", refused.GetProperty("code").GetString());
            Assert.Equal((WebSocketCloseStatus)1013, await joiner.WaitForCloseAsync());

            // The HTTP routes answer an outage the same way everywhere (one exception handler): 503 store_unavailable.
            foreach (var route in new[] { "channels/not-cached-yet", "channels/not-cached-yet/histogram", "channels/not-cached-yet/events" })
            {
                using var response = await http.GetAsync(route);
                Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
                Assert.Equal("store_unavailable", System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("code").GetString());
            }
        }
        finally
        {
            await postgres.Server.StartAsync();
        }

        Assert.Equal("store_unavailable", errorCode);
        while (true)
        {
            var message = await socket.NextNonClockAsync(TimeSpan.FromSeconds(30));
            var type = message.GetProperty("type").GetString();
            if (type == "event")
            {
                received.Add(message.GetProperty("data").GetProperty("i").GetInt32());
            }
            else if (type == "state" && message.GetProperty("status").GetString() == "ended")
            {
                break;
            }
        }

        // Every event exactly once, in order: the clock waited for the store instead of skipping.
        Assert.Equal(Enumerable.Range(0, 200), received);
        await app.StopAsync();
    }
}
