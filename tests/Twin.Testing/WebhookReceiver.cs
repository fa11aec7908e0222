using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;

namespace Twin.Testing;

/// <summary>A local webhook receiver (a stand-in CMMS/ERP) that records every event it is sent.</summary>
public sealed class WebhookReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    public WebhookReceiver()
    {
        Port = Ports.Free();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}/hook";

    public ConcurrentQueue<JsonElement> Received { get; } = new();

    /// <summary>The <c>Idempotency-Key</c> header of each request, in the order received.</summary>
    public ConcurrentQueue<string?> Keys { get; } = new();

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            Keys.Enqueue(context.Request.Headers["Idempotency-Key"]);
            using (var document = await JsonDocument.ParseAsync(context.Request.InputStream))
            {
                Received.Enqueue(document.RootElement.Clone());
            }

            context.Response.StatusCode = 200;
            context.Response.Close();
        }
    }
}
