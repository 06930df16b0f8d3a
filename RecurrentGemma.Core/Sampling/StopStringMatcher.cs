namespace RecurrentGemma.Core.Sampling;

/// <summary>
/// Streams text while watching for stop strings: text that might still turn into a stop string is held back, a stop
/// string found ends the stream, and neither it nor anything after it is emitted.
/// </summary>
internal sealed class StopStringMatcher(IReadOnlyList<string> stops)
{
    string _pending = "";

    public bool Stopped { get; private set; }

    /// <summary>The text that is now safe to emit.</summary>
    public string Push(string text)
    {
        if (Stopped || text.Length == 0) return "";
        if (stops.Count == 0) return text;
        _pending += text;
        int cut = -1;
        foreach (var stop in stops)
        {
            int at = _pending.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            Stopped = true;
            string before = _pending[..cut];
            _pending = "";
            return before;
        }
        int hold = 0;   // the longest tail of pending that is a proper prefix of a stop string
        foreach (var stop in stops)
            for (int n = Math.Min(stop.Length - 1, _pending.Length); n > hold; n--)
                if (_pending.AsSpan(_pending.Length - n).SequenceEqual(stop.AsSpan(0, n))) { hold = n; break; }
        string safe = _pending[..^hold];
        _pending = _pending[^hold..];
        return safe;
    }

    /// <summary>At the end of generation: whatever was held back (it never became a stop string).</summary>
    public string Flush()
    {
        string rest = Stopped ? "" : _pending;
        _pending = "";
        return rest;
    }
}
