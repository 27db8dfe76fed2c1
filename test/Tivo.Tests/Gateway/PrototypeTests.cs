using System.Net;
using System.Text;
using System.Text.Json;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>
/// The 2016 prototype's clients, unmodified: with <c>Tivo:Gateway:Prototype:Channel</c> a WebSocket upgrade at
/// <c>/</c> plays that channel, each event as its bare stored payload and status as <c>{type, text}</c>; a
/// browser's plain GET of <c>/</c> still gets the demo page. (clients/js/test/prototype.browser.test.mjs loads
/// the prototype's own test page in Chromium.)
/// </summary>
public sealed class PrototypeTests
{
    [Fact]
    public async Task The_prototypes_play_message_at_the_root_gets_bare_payloads_and_its_status_messages()
    {
        using var directory = new TempDirectory();
        await using var app = await TestHosts.StartGatewayAsync("--Tivo:Store:Path", directory.File("tivo.db"), "--Tivo:Store:SeedDemoData", "false",
            "--Tivo:Gateway:Prototype:Channel", "proto");
        using var http = new HttpClient { BaseAddress = app.HttpBase() };
        // The prototype's test events: {"event_date": ISO, "event_data": {"text": "00"}}, one a second.
        var body = string.Join('\n', Enumerable.Range(0, 10).Select(i => $$$"""{"ts":"2016-01-01T00:00:{{{i:00}}}.000Z","data":{"text":"{{{i:00}}}"}}"""));
        using (var ingest = await http.PostAsync("channels/proto/events", new StringContent(body, Encoding.UTF8, "application/x-ndjson")))
        {
            Assert.Equal(HttpStatusCode.OK, ingest.StatusCode);
        }

        using (var page = await http.GetAsync(""))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        }

        using var socket = new System.Net.WebSockets.ClientWebSocket();
        await socket.ConnectAsync(app.WsBase(), CancellationToken.None);
        await socket.SendAsync(Encoding.UTF8.GetBytes("""{"command":"play","start":"2016-01-01T00:00:00.000Z","end":"2016-01-01T00:00:10.000Z","loop":true,"speed":2}"""),
            System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);

        var messages = new List<JsonElement>();
        var buffer = new byte[1 << 16];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (messages.Count < 13)
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            Assert.Equal(System.Net.WebSockets.WebSocketMessageType.Text, result.MessageType);
            messages.Add(JsonDocument.Parse(buffer.AsMemory(0, result.Count)).RootElement.Clone());
        }

        // What the prototype's page shows: JSON.parse(data).text for every message, never undefined.
        var texts = messages.Select(m => m.GetProperty("text").GetString()).ToList();
        Assert.Equal("PLAY", messages[0].GetProperty("type").GetString());
        Assert.Contains("2016-01-01T00:00:00Z to 2016-01-01T00:00:10Z at speed 2, looping", texts[0], StringComparison.Ordinal);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"{i:00}"), texts.Skip(1).Take(10));
        Assert.Equal("""{"text":"00"}""", messages[1].GetRawText()); // the stored payload as-is, nothing around it
        Assert.Equal("END_LOOP", messages[11].GetProperty("type").GetString());
        Assert.Equal("00", texts[12]);
        await app.StopAsync();
    }
}
