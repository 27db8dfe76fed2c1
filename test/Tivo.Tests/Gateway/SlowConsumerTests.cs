using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Tivo.Gateway;
using Tivo.Testing;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>A client that stops reading: told slow_consumer, closed with 1008, and nobody else slows down.</summary>
public sealed class SlowConsumerTests
{
    [Fact]
    public async Task A_reader_that_stops_reading_is_cut_off_without_delaying_the_others()
    {
        using var directory = new TempDirectory();
        await using var app = await TestHosts.StartGatewayAsync("--Tivo:Store:Path", directory.File("tivo.db"), "--Tivo:Gateway:SendQueueLimit", "500");
        var ws = app.WsBase();

        await using var healthy = await TestSocket.ConnectAsync(new Uri(ws, "ws?channel=taxi"));
        await healthy.NextAsync("hello");
        await healthy.SendAsync("""{"action":"play","start":"2016-01-15T17:00:00Z","end":"2016-01-15T19:00:00Z","speed":60}""");
        await healthy.NextAsync("event");

        // The slow client asks for a day of trades in two seconds (tens of thousands of events) and never reads.
        using var slow = new ClientWebSocket();
        slow.Options.SetBuffer(4096, 4096);
        await slow.ConnectAsync(new Uri(ws, "ws?channel=trades"), CancellationToken.None);
        await slow.SendAsync(Encoding.UTF8.GetBytes("""{"action":"play","start":"2016-01-14T14:30:00Z","end":"2016-01-14T21:00:00Z","duration":2}"""),
            WebSocketMessageType.Text, true, CancellationToken.None);

        // Meanwhile the healthy participant keeps receiving on time.
        var seqs = new List<long>();
        for (var i = 0; i < 100; i++)
        {
            seqs.Add((await healthy.NextAsync("event")).GetProperty("seq").GetInt64());
        }

        Assert.Equal(seqs.Order(), seqs);

        // Now read what reached the slow client: whatever fit in the buffers, then the error, then 1008.
        var (types, codes, _, close) = await RawSocket.DrainAsync(slow);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, close);
        Assert.Equal("error", types[^1]);
        Assert.Equal("slow_consumer", codes[^1]);
        await healthy.SendAsync("""{"action":"status"}""");
        Assert.Equal("playing", (await healthy.NextAsync("state")).GetProperty("status").GetString());
        await app.StopAsync();
    }

    [Theory]
    [InlineData(20)] // the session keeps pushing while the reader stalls
    [InlineData(1)] // two days of trades in a second: everything is handed on at once, then nothing more is queued for it
    public async Task A_reader_that_stalls_is_told_slow_consumer_by_lag_long_before_the_keep_alive_drops_it(int durationSeconds)
    {
        // The message count can never trip here: the stall is found by time (Tivo:Gateway:SlowConsumerLag), also when no
        // push comes after the send got stuck (found by the watchdog's check; before it, the keep-alive closed it at 45 s).
        using var directory = new TempDirectory();
        await using var app = await TestHosts.StartGatewayAsync("--Tivo:Store:Path", directory.File("tivo.db"),
            "--Tivo:Gateway:SendQueueLimit", "10000000", "--Tivo:Gateway:SlowConsumerLag", "00:00:02");
        using var slow = new ClientWebSocket();
        slow.Options.SetBuffer(4096, 4096);
        await slow.ConnectAsync(new Uri(app.WsBase(), "ws?channel=trades"), CancellationToken.None);
        await slow.SendAsync(Encoding.UTF8.GetBytes($$"""{"action":"play","start":"2016-01-14T14:30:00Z","end":"2016-01-15T21:00:00Z","duration":{{durationSeconds}}}"""),
            WebSocketMessageType.Text, true, CancellationToken.None);
        var stalled = System.Diagnostics.Stopwatch.StartNew();
        // Long enough for the sends to block: some 23,000 messages (megabytes) fill the loopback buffers first, and 6 s
        // was too short on a loaded machine (2 failures in 9 runs of the gateway tests beside each other).
        await Task.Delay(TimeSpan.FromSeconds(15));

        var (stallTypes, stallCodes, text, stallClose) = await RawSocket.DrainAsync(slow);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, stallClose);
        Assert.Equal("error", stallTypes[^1]);
        Assert.Equal("slow_consumer", stallCodes[^1]);
        Assert.Contains("Tivo:Gateway:SlowConsumerLag", text, StringComparison.Ordinal);
        Assert.True(stalled.Elapsed < TimeSpan.FromSeconds(40), "closed by the lag rule, not by the 45 s keep-alive");
        await app.StopAsync();
    }
}
