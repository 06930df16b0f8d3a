namespace RecurrentGemma.Core.Serving;

/// <summary>
/// What the engine has done so far, for monitoring (a server's metrics): queue and running counts now, and the batch
/// size of every step so far as a histogram over power-of-two buckets (<see cref="BatchSizeBuckets"/>).
/// </summary>
public sealed record SchedulerStatistics(int QueuedRequests, int RunningSequences, long Steps, long StepSequences, long StepRows, IReadOnlyList<long> StepsByBatchSize)
{
    /// <summary>Upper bounds (inclusive) of the batch-size buckets: 1, 2, 4, ... 4096 sequences in one step; the last bucket also counts larger steps.</summary>
    public static IReadOnlyList<int> BatchSizeBuckets { get; } = [.. Enumerable.Range(0, 13).Select(i => 1 << i)];

    internal static int BucketOf(int sequences) => sequences <= 1 ? 0 : Math.Min(32 - int.LeadingZeroCount(sequences - 1), BatchSizeBuckets.Count - 1);
}

/// <summary>The engine thread's counters; read from any thread.</summary>
internal sealed class SchedulerCounters
{
    readonly long[] _byBatchSize = new long[SchedulerStatistics.BatchSizeBuckets.Count];
    long _steps, _sequences, _rows;
    int _running;

    public void Step(int sequences, int rows)
    {
        Interlocked.Increment(ref _byBatchSize[SchedulerStatistics.BucketOf(sequences)]);
        Interlocked.Add(ref _sequences, sequences);
        Interlocked.Add(ref _rows, rows);
        Interlocked.Increment(ref _steps);
    }

    public void Running(int count) => Volatile.Write(ref _running, count);

    public SchedulerStatistics Read(int queued)
    {
        var buckets = new long[_byBatchSize.Length];
        for (int i = 0; i < buckets.Length; i++) buckets[i] = Interlocked.Read(ref _byBatchSize[i]);
        return new SchedulerStatistics(queued, Volatile.Read(ref _running), Interlocked.Read(ref _steps),
            Interlocked.Read(ref _sequences), Interlocked.Read(ref _rows), buckets);
    }
}
