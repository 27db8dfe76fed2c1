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
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        string? lastType = null;
        string? code = null;
        while (true)
        {
            var result = await slow.ReceiveAsync(buffer, new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                Assert.Equal(WebSocketCloseStatus.PolicyViolation, result.CloseStatus);
                break;
            }

            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                var json = JsonDocument.Parse(message.ToArray()).RootElement;
                lastType = json.GetProperty("type").GetString();
                if (lastType == "error")
                {
                    code = json.GetProperty("code").GetString();
                }

                message.SetLength(0);
            }
        }

        Assert.Equal("error", lastType);
        Assert.Equal("slow_consumer", code);
        await healthy.SendAsync("""{"action":"status"}""");
        Assert.Equal("playing", (await healthy.NextAsync("state")).GetProperty("status").GetString());
        await app.StopAsync();
    }
}
