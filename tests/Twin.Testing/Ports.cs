using System.Net;
using System.Net.Sockets;

namespace Twin.Testing;

/// <summary>Free TCP ports on 127.0.0.1, so every server a run starts gets its own.</summary>
public static class Ports
{
    private static readonly HashSet<int> Handed = [];

    /// <summary>A TCP port on 127.0.0.1 that was free a moment ago and not handed out before in this run.</summary>
    public static int Free()
    {
        lock (Handed)
        {
            while (true)
            {
                using var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                listener.Stop();
                if (Handed.Add(port))
                {
                    return port;
                }
            }
        }
    }

    /// <summary>True when something accepts a TCP connection on the port (a server is listening).</summary>
    public static async Task<bool> IsOpenAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
