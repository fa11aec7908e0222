namespace Twin.Testing;

/// <summary>Awaits a condition with a deadline: no fixed sleeps.</summary>
public static class Wait
{
    /// <summary>Polls <paramref name="probe"/> until it returns a value; transient HTTP and I/O errors count as "not yet".</summary>
    /// <param name="interval">Time between probes (50 ms unless given: a benchmark timing a start polls faster).</param>
    public static async Task<T> ForAsync<T>(Func<Task<T?>> probe, TimeSpan deadline, string what, TimeSpan? interval = null)
        where T : class
    {
        var until = DateTime.UtcNow + deadline;
        Exception? last = null;
        while (DateTime.UtcNow < until)
        {
            try
            {
                if (await probe() is { } value)
                {
                    return value;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                last = ex;
            }

            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(50));
        }

        throw new TimeoutException($"Not within {deadline.TotalSeconds} s: {what}. Last error: {last?.Message ?? "none"}");
    }

    public static async Task<System.Text.Json.JsonElement> ForAsync(Func<Task<System.Text.Json.JsonElement?>> probe, TimeSpan deadline, string what)
    {
        var boxed = await ForAsync<object>(async () => await probe() is { } value ? value : null, deadline, what);
        return (System.Text.Json.JsonElement)boxed;
    }

    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan deadline, string what, TimeSpan? interval = null)
    {
        await ForAsync<object>(async () => await condition() ? new object() : null, deadline, what, interval);
    }

    /// <summary>
    /// Until <paramref name="process"/> answers <c>/health/ready</c> with 200 on <paramref name="http"/>;
    /// fails at once when it exits, and with its output when the deadline passes.
    /// </summary>
    public static async Task UntilReadyAsync(ChildProcess process, HttpClient http, TimeSpan deadline, string name, string what)
    {
        try
        {
            await UntilAsync(
                async () =>
                {
                    if (process.HasExited)
                    {
                        throw new InvalidOperationException($"{name} exited:\n" + await process.ExitOutputAsync());
                    }

                    using var response = await http.GetAsync("/health/ready");
                    return response.IsSuccessStatusCode;
                },
                deadline,
                what);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + "\n" + process.Output, ex);
        }
    }
}
