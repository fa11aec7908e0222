namespace Twin.Gateway.Uns;

/// <summary>
/// The publisher's picture: the payload of every topic it publishes, grouped by the source that
/// gives them (a machine's stream, its OEE, its tickets, a line, the factory's KPIs), and the queue
/// of topics still to send. A source's new values replace its old ones: a changed payload is
/// queued, an equal one is not, and a topic the source no longer gives is queued to be cleared
/// (an empty retained payload) and forgotten once that is sent.
/// </summary>
/// <remarks>
/// The queue holds each topic at most once and reads its payload when it is sent: a value that
/// changes again before then goes out once, with its latest payload (counted in
/// <see cref="Superseded"/>), so the queue never holds more than the picture's topics. A topic is
/// sent at most once per <c>minInterval</c>: the first change after a quiet spell goes out at once,
/// the next when the interval is over. The picture holds at most <c>maxTopics</c> values; a source's
/// values beyond that are not taken (counted in <see cref="Refused"/>). Thread-safe; times are
/// milliseconds of one clock (<see cref="Environment.TickCount64"/>).
/// </remarks>
internal sealed class UnsPicture(int maxTopics, TimeSpan minInterval)
{
    private static readonly byte[] Clear = [];

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _topics = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _sources = new(StringComparer.Ordinal);
    private readonly PriorityQueue<Entry, long> _queue = new();
    private readonly long _intervalMs = Math.Max(1, (long)minInterval.TotalMilliseconds);
    private int _values;
    private long _superseded;
    private long _refused;

    /// <summary>Topics with a value (not counting those waiting to be cleared).</summary>
    public int Values
    {
        get
        {
            lock (_lock)
            {
                return _values;
            }
        }
    }

    /// <summary>Topics waiting to be sent.</summary>
    public int Pending
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Changes that replaced a payload still waiting to be sent (latest wins).</summary>
    public long Superseded => Interlocked.Read(ref _superseded);

    /// <summary>Values not taken because the picture was full.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>The payload published (or to be published) on <paramref name="topic"/>; null when none (or it is being cleared).</summary>
    public byte[]? Get(string topic)
    {
        lock (_lock)
        {
            return _topics.TryGetValue(topic, out var entry) && entry.Payload.Length > 0 ? entry.Payload : null;
        }
    }

    /// <summary>Replaces what <paramref name="source"/> gives; returns how many values were refused (the picture is full).</summary>
    public int Replace(string source, IReadOnlyDictionary<string, byte[]> values, long now)
    {
        var refused = 0;
        lock (_lock)
        {
            var old = _sources.GetValueOrDefault(source);
            var kept = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (topic, payload) in values)
            {
                if (_topics.TryGetValue(topic, out var entry))
                {
                    if (entry.Payload.AsSpan().SequenceEqual(payload) && payload.Length > 0)
                    {
                        kept.Add(topic);
                        continue;
                    }

                    if (entry.Payload.Length == 0)
                    {
                        _values++;
                    }

                    entry.Payload = payload;
                }
                else if (_values >= maxTopics)
                {
                    refused++;
                    continue;
                }
                else
                {
                    entry = new Entry(topic) { Payload = payload };
                    _topics[topic] = entry;
                    _values++;
                }

                kept.Add(topic);
                Enqueue(entry, now);
            }

            if (old is not null)
            {
                foreach (var topic in old.Where(t => !kept.Contains(t)))
                {
                    Remove(topic, now);
                }
            }

            if (kept.Count == 0)
            {
                _sources.Remove(source);
            }
            else
            {
                _sources[source] = kept;
            }
        }

        Interlocked.Add(ref _refused, refused);
        return refused;
    }

    /// <summary>Clears each of <paramref name="topics"/> that the picture does not hold (retained by the broker from before); returns how many.</summary>
    public int ClearUnknown(IEnumerable<string> topics, long now)
    {
        var cleared = 0;
        lock (_lock)
        {
            foreach (var topic in topics)
            {
                if (!_topics.ContainsKey(topic))
                {
                    var entry = new Entry(topic) { Payload = Clear };
                    _topics[topic] = entry;
                    Enqueue(entry, now);
                    cleared++;
                }
            }
        }

        return cleared;
    }

    /// <summary>Queues every topic again (a new connection: the broker's retained state must converge to the picture); returns how many.</summary>
    public int RequeueAll(long now)
    {
        lock (_lock)
        {
            foreach (var entry in _topics.Values.Where(e => !e.Queued))
            {
                Enqueue(entry, now);
            }

            return _queue.Count;
        }
    }

    /// <summary>
    /// The next topic due, with the payload to send (empty: clear it); false when none is due yet,
    /// with <paramref name="wait"/> the milliseconds until one is (or -1 when nothing is queued).
    /// </summary>
    public bool TryTake(long now, out string topic, out byte[] payload, out long wait)
    {
        lock (_lock)
        {
            while (_queue.TryPeek(out var entry, out var due))
            {
                if (due > now)
                {
                    break;
                }

                _queue.Dequeue();
                entry.Queued = false;
                entry.SentAt = now;
                topic = entry.Topic;
                payload = entry.Payload;
                wait = 0;
                return true;
            }

            topic = "";
            payload = Clear;
            wait = _queue.TryPeek(out _, out var next) ? next - now : -1;
            return false;
        }
    }

    /// <summary>The broker took <paramref name="payload"/> on <paramref name="topic"/>: a topic cleared for good is forgotten.</summary>
    public void Sent(string topic, byte[] payload)
    {
        lock (_lock)
        {
            if (payload.Length == 0 && _topics.TryGetValue(topic, out var entry) && entry.Payload.Length == 0 && !entry.Queued)
            {
                _topics.Remove(topic);
            }
        }
    }

    private void Remove(string topic, long now)
    {
        if (_topics.TryGetValue(topic, out var entry) && entry.Payload.Length > 0)
        {
            entry.Payload = Clear;
            _values--;
            Enqueue(entry, now);
        }
    }

    private void Enqueue(Entry entry, long now)
    {
        if (entry.Queued)
        {
            Interlocked.Increment(ref _superseded);
            return;
        }

        entry.Queued = true;
        _queue.Enqueue(entry, Math.Max(now, entry.SentAt + _intervalMs));
    }

    private sealed class Entry(string topic)
    {
        public string Topic { get; } = topic;

        /// <summary>The value; empty while the topic waits to be cleared.</summary>
        public byte[] Payload { get; set; } = Clear;

        public bool Queued { get; set; }

        public long SentAt { get; set; } = long.MinValue / 2;
    }
}
