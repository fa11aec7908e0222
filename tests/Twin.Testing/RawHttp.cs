using System.Net.Sockets;
using System.Text;

namespace Twin.Testing;

/// <summary>
/// HTTP/1.1 requests written byte for byte, so a test sends the exact request target it means
/// (HttpClient would normalise dot segments, slashes and escapes before they reach the server).
/// </summary>
public static class RawHttp
{
    public sealed record Response(int Status, string Body);

    public static async Task<Response> SendAsync(int port, string method, string target, string? token = null, string? body = null)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        await using var stream = client.GetStream();
        var request = new StringBuilder()
            .Append(method).Append(' ').Append(target).Append(" HTTP/1.1\r\n")
            .Append("Host: 127.0.0.1:").Append(port).Append("\r\n")
            .Append("Connection: close\r\n");
        if (token is not null)
        {
            request.Append("Authorization: Bearer ").Append(token).Append("\r\n");
        }

        var content = body is null ? [] : Encoding.UTF8.GetBytes(body);
        if (body is not null)
        {
            request.Append("Content-Type: application/json\r\n");
        }

        request.Append("Content-Length: ").Append(content.Length).Append("\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request.ToString()));
        await stream.WriteAsync(content);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var text = await reader.ReadToEndAsync(timeout.Token);
        var statusLine = text.Split("\r\n", 2)[0];
        var parts = statusLine.Split(' ');
        var status = parts.Length > 1 && int.TryParse(parts[1], out var code) ? code : 0;
        var bodyStart = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return new Response(status, bodyStart < 0 ? "" : text[(bodyStart + 4)..]);
    }
}
