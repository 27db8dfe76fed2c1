using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace Tivo.Tests.Gateway;

/// <summary>A server and a client WebSocket over a real loopback TCP connection, for tests of a connection's send loop.</summary>
internal static class LoopbackWebSockets
{
    public static async Task<(WebSocket Server, WebSocket Client)> PairAsync()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var connecting = new TcpClient();
        var connect = connecting.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        var accepted = await listener.AcceptTcpClientAsync();
        await connect;
        listener.Stop();
        return (WebSocket.CreateFromStream(accepted.GetStream(), new WebSocketCreationOptions { IsServer = true }),
            WebSocket.CreateFromStream(connecting.GetStream(), new WebSocketCreationOptions()));
    }
}
