using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Twin.Bench;

/// <summary>
/// A SignalR client for the latency benchmark that speaks the JSON hub protocol over one
/// WebSocket and allocates little per message: each frame is parsed in place from a reused
/// buffer, and the handler sees the <c>twinChanged</c> argument as a <see cref="JsonElement"/>
/// that is valid only during the call.
/// </summary>
/// <remarks>
/// 1,000 of the .NET client's <c>HubConnection</c>s in the benchmark's process collect their
/// garbage about as long as the gateway does; on two shared cores that pause is added to every
/// reading a client receives during it. This client measures the same path (the hub, its
/// WebSocket, a client parsing each change) without weighing on it as much. Handlers of one
/// client run one at a time, in the order the frames arrive, as with <c>HubConnection</c>.
/// </remarks>
internal sealed class LeanHubClient : IAsyncDisposable
{
    private const byte RecordSeparator = 0x1e;
    private static readonly byte[] Handshake = Encoding.UTF8.GetBytes("{\"protocol\":\"json\",\"version\":1}\u001e");
    private static readonly byte[] Ping = Encoding.UTF8.GetBytes("{\"type\":6}\u001e");

    private readonly ClientWebSocket _socket = new();
    private readonly SemaphoreSlim _sending = new(1, 1);
    private readonly string _target;
    private readonly Action<JsonElement> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _handshake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
    private int _filled;
    private int _nextInvocation;
    private TaskCompletionSource<string?>? _invocation;
    private string? _invocationId;
    private Task _receiving = Task.CompletedTask;

    private LeanHubClient(string target, Action<JsonElement> handler)
    {
        _target = target;
        _handler = handler;
    }

    /// <summary>Why the server closed the connection, if it did (a close message or the socket's end).</summary>
    public string? Closed { get; private set; }

    /// <summary>Connects to the hub at <paramref name="hub"/> (http or https) and completes once the server accepted the handshake.</summary>
    public static async Task<LeanHubClient> ConnectAsync(Uri hub, string target, Action<JsonElement> handler, CancellationToken token)
    {
        var client = new LeanHubClient(target, handler);
        var ws = new UriBuilder(hub) { Scheme = hub.Scheme == Uri.UriSchemeHttps ? "wss" : "ws" }.Uri;
        await client._socket.ConnectAsync(ws, token);
        await client.SendAsync(Handshake, token);
        client._receiving = client.ReceiveLoopAsync();
        await client._handshake.Task.WaitAsync(TimeSpan.FromSeconds(30), token);
        return client;
    }

    /// <summary>Invokes a hub method with one string argument and waits for its completion; a hub error throws.</summary>
    public async Task InvokeAsync(string method, string argument, CancellationToken token)
    {
        var id = Interlocked.Increment(ref _nextInvocation).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var done = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _invocation, done, null) is not null)
        {
            throw new InvalidOperationException("one invocation at a time");
        }

        Volatile.Write(ref _invocationId, id);
        var message = JsonSerializer.SerializeToUtf8Bytes(new { type = 1, invocationId = id, target = method, arguments = new[] { argument } });
        var framed = new byte[message.Length + 1];
        message.CopyTo(framed, 0);
        framed[^1] = RecordSeparator;
        await SendAsync(framed, token);
        var error = await done.Task.WaitAsync(TimeSpan.FromSeconds(30), token);
        if (error is not null)
        {
            throw new InvalidOperationException($"{method} failed: {error}");
        }
    }

    /// <summary>Tells the server the client is alive (it closes a connection silent for 30 s).</summary>
    public Task PingAsync(CancellationToken token) => _socket.State == WebSocketState.Open ? SendAsync(Ping, token) : Task.CompletedTask;

    private async Task SendAsync(byte[] frame, CancellationToken token)
    {
        await _sending.WaitAsync(token);
        try
        {
            await _socket.SendAsync(frame, WebSocketMessageType.Text, true, token);
        }
        finally
        {
            _sending.Release();
        }
    }

    private async Task ReceiveLoopAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                if (_filled == _buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
                    _buffer.AsSpan(0, _filled).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(_buffer);
                    _buffer = larger;
                }

                var result = await _socket.ReceiveAsync(_buffer.AsMemory(_filled), _stop.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    Closed ??= $"socket closed: {_socket.CloseStatus} {_socket.CloseStatusDescription}";
                    break;
                }

                _filled += result.Count;
                var start = 0;
                int end;
                while ((end = Array.IndexOf(_buffer, RecordSeparator, start, _filled - start)) >= 0)
                {
                    Dispatch(_buffer.AsMemory(start, end - start));
                    start = end + 1;
                }

                if (start > 0)
                {
                    _buffer.AsSpan(start, _filled - start).CopyTo(_buffer);
                    _filled -= start;
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Closed ??= $"{ex.GetType().Name}: {ex.Message}";
        }
        finally
        {
            _handshake.TrySetException(new InvalidOperationException($"the hub closed the connection: {Closed}"));
            Interlocked.Exchange(ref _invocation, null)?.TrySetResult($"the hub closed the connection: {Closed}");
        }
    }

    private void Dispatch(ReadOnlyMemory<byte> record)
    {
        using var document = JsonDocument.Parse(record);
        var root = document.RootElement;
        if (!_handshake.Task.IsCompleted)
        {
            // The handshake's answer: {} or {"error": "..."}.
            if (root.TryGetProperty("error", out var refused))
            {
                Closed = $"handshake refused: {refused.GetString()}";
                _handshake.TrySetException(new InvalidOperationException(Closed));
            }
            else
            {
                _handshake.TrySetResult();
            }

            return;
        }

        switch (root.GetProperty("type").GetInt32())
        {
            case 1 when root.GetProperty("target").ValueEquals(_target):
                foreach (var argument in root.GetProperty("arguments").EnumerateArray())
                {
                    _handler(argument);
                    break;
                }

                break;
            case 3 when root.TryGetProperty("invocationId", out var id) && id.ValueEquals(Volatile.Read(ref _invocationId)):
                var error = root.TryGetProperty("error", out var e) ? e.GetString() ?? "error" : null;
                Interlocked.Exchange(ref _invocation, null)?.TrySetResult(error);
                break;
            case 7:
                Closed ??= root.TryGetProperty("error", out var reason) ? $"closed by the hub: {reason.GetString()}" : "closed by the hub";
                break;
            default:
                // Pings (6) and anything else the benchmark does not use.
                break;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // Gone already: nothing to close.
        }

        await _stop.CancelAsync();
        try
        {
            await _receiving;
        }
        catch (OperationCanceledException)
        {
        }

        _socket.Dispose();
        _stop.Dispose();
        _sending.Dispose();
        ArrayPool<byte>.Shared.Return(_buffer);
    }
}
