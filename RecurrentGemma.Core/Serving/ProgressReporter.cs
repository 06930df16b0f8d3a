namespace RecurrentGemma.Core.Serving;

/// <summary>
/// Delivers a request's prefill progress to the caller's callback on the thread pool, one call at a time and always
/// the latest value, so a slow or throwing callback never runs on (or stalls) the engine thread. A callback that
/// throws fails its own request.
/// </summary>
internal sealed class ProgressReporter(Action<double> callback, RequestHandle handle)
{
    double _latest;
    int _scheduled;

    /// <summary>Called by the engine; returns at once.</summary>
    public void Report(double fraction)
    {
        Volatile.Write(ref _latest, fraction);
        if (Interlocked.Exchange(ref _scheduled, 1) == 0)
            ThreadPool.UnsafeQueueUserWorkItem(static r => r.Deliver(), this, preferLocal: false);
    }

    void Deliver()
    {
        while (true)
        {
            double value = Volatile.Read(ref _latest);
            try { callback(value); }
            catch (Exception e)
            {
                handle.FailFromCallback(new RecurrentGemmaException($"the prefill progress callback threw: {e.Message}", e));
                return;   // _scheduled stays set: no more calls for a failed request
            }
            Volatile.Write(ref _scheduled, 0);
            // A value that arrived while the callback ran saw _scheduled set and queued nothing: deliver it now.
            if (Volatile.Read(ref _latest) == value || Interlocked.Exchange(ref _scheduled, 1) != 0) return;
        }
    }
}
