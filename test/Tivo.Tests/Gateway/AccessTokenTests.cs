using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;
using Tivo.Cli;
using Tivo.Tests.Infrastructure;
using Xunit;

namespace Tivo.Tests.Gateway;

/// <summary>A gateway with access tokens: who gets in, with which role, on sockets and HTTP routes.</summary>
public sealed class AccessTokenTests : IAsyncLifetime
{
    private const string ControllerToken = "ctl-7f3a9c2e51b84d06a1e2";
    private const string ViewerToken = "view-0b6d2f8e9a4c17e35d90";
    private readonly TempDirectory _directory = new();
    private WebApplication _app = null!;
    private readonly HttpClient _http = new();

    public async Task InitializeAsync()
    {
        _app = await TestHosts.StartGatewayAsync("--Tivo:Store:Path", _directory.File("tivo.db"), "--Tivo:Store:SeedDemoData", "false",
            "--Tivo:Gateway:Tokens:0:Token", ControllerToken, "--Tivo:Gateway:Tokens:0:Role", "controller", "--Tivo:Gateway:Tokens:0:Name", "ops",
            "--Tivo:Gateway:Tokens:1:Token", ViewerToken, "--Tivo:Gateway:Tokens:1:Role", "viewer");
        _http.BaseAddress = _app.HttpBase();
        using var ingest = new HttpRequestMessage(HttpMethod.Post, "channels/clicks/events")
        {
            Content = new StringContent(string.Join('\n', Enumerable.Range(0, 50).Select(i => $$$"""{"ts":"2020-01-01T00:00:{{{i:00}}}Z","data":{"i":{{{i}}}}}""")),
                Encoding.UTF8, "application/x-ndjson"),
        };
        ingest.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ControllerToken);
        using var response = await _http.SendAsync(ingest);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.DisposeAsync();
        _directory.Dispose();
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-token-of-this-server")]
    public async Task Without_a_valid_token_sockets_and_routes_answer_401_unauthorized(string? token)
    {
        var suffix = token is null ? "" : "?token=" + token;
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(new Uri(_app.WsBase(), "ws?channel=clicks" + suffix.Replace('?', '&')), CancellationToken.None));
        Assert.Equal(HttpStatusCode.Unauthorized, socket.HttpStatusCode);

        foreach (var route in new[] { "channels", "channels/clicks", "channels/clicks/histogram", "channels/clicks/events" })
        {
            using var response = await _http.GetAsync(route + suffix);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal("unauthorized", body.GetProperty("code").GetString());
            Assert.Contains(token is null ? "requires an access token" : "not valid", body.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        using var health = await _http.GetAsync("healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task A_viewer_token_watches_but_cannot_control_or_ingest()
    {
        await using var socket = await TestSocket.ConnectAsync(new Uri(_app.WsBase(), $"ws?channel=clicks&token={ViewerToken}"));
        Assert.Equal("viewer", (await socket.NextAsync("hello")).GetProperty("role").GetString());
        await socket.SendAsync("""{"action":"play","id":7,"start":"2020-01-01T00:00:00Z","end":"2020-01-01T00:01:00Z"}""");
        var error = await socket.NextAsync("error");
        Assert.Equal("forbidden", error.GetProperty("code").GetString());

        using var channels = await _http.GetAsync($"channels?token={ViewerToken}");
        Assert.Equal(HttpStatusCode.OK, channels.StatusCode);
        using var export = await _http.GetAsync($"channels/clicks/events?token={ViewerToken}"); // a viewer may export
        Assert.Equal(HttpStatusCode.OK, export.StatusCode);
        Assert.Equal(50, (await export.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        using var ingest = await _http.PostAsync($"channels/clicks/events?token={ViewerToken}", new StringContent("""[{"ts":"2020-01-02T00:00:00Z","data":{}}]""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Forbidden, ingest.StatusCode);
        Assert.Equal("forbidden", JsonDocument.Parse(await ingest.Content.ReadAsStringAsync()).RootElement.GetProperty("code").GetString());

        // Asking for more than the token grants is refused before the upgrade.
        using var raised = new ClientWebSocket();
        raised.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => raised.ConnectAsync(new Uri(_app.WsBase(), $"ws?channel=clicks&role=controller&token={ViewerToken}"), CancellationToken.None));
        Assert.Equal(HttpStatusCode.Forbidden, raised.HttpStatusCode);
    }

    [Fact]
    public async Task A_controller_token_in_the_authorization_header_plays_and_may_ask_to_be_a_viewer()
    {
        await using var socket = await TestSocket.ConnectAsync(new Uri(_app.WsBase(), "ws?channel=clicks"), ControllerToken);
        Assert.Equal("controller", (await socket.NextAsync("hello")).GetProperty("role").GetString());
        await socket.SendAsync("""{"action":"play","start":"2020-01-01T00:00:00Z","end":"2020-01-01T00:00:10Z","speed":100}""");
        Assert.Equal("2020-01-01T00:00:00Z", (await socket.NextAsync("event")).GetProperty("ts").GetString());

        await using var lowered = await TestSocket.ConnectAsync(new Uri(_app.WsBase(), $"ws?channel=clicks&role=viewer&token={ControllerToken}"));
        Assert.Equal("viewer", (await lowered.NextAsync("hello")).GetProperty("role").GetString());
    }

    [Fact]
    public async Task The_cli_says_a_token_is_needed_and_works_with_one()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(1, await CliProgram.RunAsync(["channels", "--server", _app.HttpBase().ToString()], output, error, CancellationToken.None));
        Assert.Contains("requires an access token: pass --token", error.ToString(), StringComparison.Ordinal);

        error.GetStringBuilder().Clear();
        Assert.Equal(1, await CliProgram.RunAsync(["play", "--server", _app.HttpBase().ToString(), "--channel", "clicks"], output, error, CancellationToken.None));
        Assert.Contains("refused access (401)", error.ToString(), StringComparison.Ordinal);

        error.GetStringBuilder().Clear();
        Assert.Equal(0, await CliProgram.RunAsync(["channels", "--server", _app.HttpBase().ToString(), "--token", ViewerToken], output, error, CancellationToken.None));
        Assert.Equal("", error.ToString());

        // The socket gets the token as an Authorization header; a viewer cannot play, a controller can.
        Assert.Equal(1, await CliProgram.RunAsync(["play", "--server", _app.HttpBase().ToString(), "--channel", "clicks", "--token", ViewerToken], output, error, CancellationToken.None));
        Assert.Contains("forbidden", error.ToString(), StringComparison.Ordinal);
        output.GetStringBuilder().Clear();
        Assert.Equal(0, await CliProgram.RunAsync(["play", "--server", _app.HttpBase().ToString(), "--channel", "clicks", "--start", "2020-01-01T00:00:00Z",
            "--end", "2020-01-01T00:00:05Z", "--speed", "100", "--format", "ndjson", "--token", ControllerToken], output, error, CancellationToken.None));
        Assert.Equal(5, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task A_short_or_duplicated_token_stops_the_gateway_at_start_with_a_message()
    {
        using var directory = new TempDirectory();
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => TestHosts.StartGatewayAsync("--Tivo:Store:Path", directory.File("t.db"),
            "--Tivo:Store:SeedDemoData", "false", "--Tivo:Gateway:Tokens:0:Token", "short", "--Tivo:Gateway:Tokens:1:Token", "short"));
        Assert.Contains("Tivo:Gateway:Tokens:0:Token is 5 characters; use at least 16", ex.Message, StringComparison.Ordinal);
        Assert.Contains("the same token twice", ex.Message, StringComparison.Ordinal);
    }
}
