using System.Net;
using System.Net.Sockets;

namespace Tivo.Testing;

/// <summary>Free loopback ports, so parallel test hosts never share Orleans or HTTP ports.</summary>
public static class TestPorts
{
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
