namespace Twin.Silo.History;

/// <summary>
/// The ids of the history series written so far, (factory, machine, sensor) → id, as the SQL
/// stores keep them so a write needs no lookup in the database.
/// </summary>
/// <remarks>
/// One entry per machine, holding its sensors' ids in an array of exactly their number, ordered by name, rather
/// than one dictionary entry per series: every sensor of every machine that ever wrote is in
/// here, so its size per series is what a plant pays (16 bytes and the machine's share of one
/// entry, where a three-string key cost 40 and the table's spare room). Series are never removed
/// from the database, so nothing here goes stale; <see cref="Clear"/> is for a writer that has
/// lost track of what it wrote. Safe for concurrent use.
/// </remarks>
public sealed class SeriesIds
{
    private readonly Dictionary<(string Factory, string Machine), Series[]> _machines = [];
    private readonly Lock _lock = new();

    /// <summary>The number of series known.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _machines.Values.Sum(s => s.Length);
            }
        }
    }

    /// <summary>The id of a series, when known.</summary>
    public bool TryGet(string factory, string machine, string sensor, out long id)
    {
        lock (_lock)
        {
            if (_machines.TryGetValue((factory, machine), out var series) && Find(series, sensor) is var index and >= 0)
            {
                id = series[index].Id;
                return true;
            }
        }

        id = 0;
        return false;
    }

    /// <summary>Records the id of a series (the database's, so a second call for the same series brings the same id).</summary>
    public void Set(string factory, string machine, string sensor, long id)
    {
        lock (_lock)
        {
            if (!_machines.TryGetValue((factory, machine), out var series))
            {
                _machines.Add((factory, machine), [new Series(sensor, id)]);
                return;
            }

            var index = Find(series, sensor);
            if (index >= 0)
            {
                series[index] = new Series(sensor, id);
                return;
            }

            // A machine gains a sensor rarely and once: the array grows by exactly one, kept in order.
            index = ~index;
            var grown = new Series[series.Length + 1];
            Array.Copy(series, 0, grown, 0, index);
            grown[index] = new Series(sensor, id);
            Array.Copy(series, index, grown, index + 1, series.Length - index);
            _machines[(factory, machine)] = grown;
        }
    }

    /// <summary>Forgets every id (they are read again from the database as needed).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _machines.Clear();
        }
    }

    /// <summary>The index of the sensor in <paramref name="series"/> (ordered by name), or the complement of where it would go.</summary>
    private static int Find(Series[] series, string sensor)
    {
        int low = 0, high = series.Length - 1;
        while (low <= high)
        {
            var middle = low + ((high - low) >> 1);
            var order = string.CompareOrdinal(series[middle].Sensor, sensor);
            if (order == 0)
            {
                return middle;
            }

            if (order < 0)
            {
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return ~low;
    }

    private readonly record struct Series(string Sensor, long Id);
}
