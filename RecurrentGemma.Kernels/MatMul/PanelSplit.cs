using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>What a matmul job does with a run of whole panels [first, end).</summary>
internal interface IPanelWork
{
    void RunPanels(int first, int end);
}

/// <summary>
/// How a matmul shares its panels among threads, in one of two ways:
/// <list type="bullet">
/// <item><b>Tasks</b> (compute-bound batches): a few tasks per thread, each a run of panels, claimed in any order, so a
/// slow thread takes fewer.</item>
/// <item><b>Streams</b> (bound by the weight stream: the decode tiles' few rows): one contiguous range of panels per
/// thread, which its owner walks front to back in halving claims (one long sequential stream a core, the hardware
/// prefetcher's best case); a thread that runs out takes the back half of the range with the most left and walks that.
/// Measured on the Zen 5 VM (q4 GEMVs of 2560 x 2560 in sequence, 2 threads): 61-67 GB/s with four tasks per thread,
/// 68-69 this way; each task start restarts the prefetcher's stream.</item>
/// </list>
/// Which thread computes a panel never changes its result (every output column is computed whole by one tile).
/// </summary>
internal sealed class PanelSplit : IParallelWork
{
    const int TasksPerThread = 4;
    /// <summary>Longs per range: each range's word on a cache line of its own (owners and thieves CAS it).</summary>
    const int RangeStride = 8;

    IPanelWork? _work;
    int _panels, _granule, _perTask, _ranges;
    bool _streams;
    /// <summary>Range r at [r * RangeStride]: (end &lt;&lt; 32) | front, in granules.</summary>
    long[] _range = [];

    /// <summary>Runs <paramref name="work"/> over all panels, in runs that are whole multiples of <paramref name="granule"/> panels (but the last).</summary>
    public void Run(IPanelWork work, int panels, int granule, bool streams, WorkerPool? pool)
    {
        int threads = pool?.Threads ?? 1, units = (panels + granule - 1) / granule;
        if (threads == 1 || units == 1)
        {
            work.RunPanels(0, panels);
            return;
        }
        _work = work;
        _panels = panels;
        _granule = granule;
        _streams = streams;
        int tasks;
        if (_streams)
        {
            _ranges = tasks = Math.Min(threads, units);
            if (_range.Length < tasks * RangeStride) _range = new long[tasks * RangeStride];
            for (int r = 0; r < tasks; r++)
            {
                long front = (long)units * r / tasks, end = (long)units * (r + 1) / tasks;
                _range[r * RangeStride] = end << 32 | front;
            }
        }
        else
        {
            _perTask = Math.Max(1, units / (threads * TasksPerThread));
            tasks = (units + _perTask - 1) / _perTask;
        }
        try
        {
            pool!.Run(this, tasks);
        }
        finally
        {
            _work = null;
        }
    }

    public void Execute(int index)
    {
        var work = _work!;
        if (!_streams)
        {
            int first = index * _perTask * _granule;
            work.RunPanels(first, Math.Min(first + _perTask * _granule, _panels));
            return;
        }
        // Task index owns range index: only this thread moves its front; thieves move ends (both by CAS on one word).
        while (true)
        {
            while (TakeFront(index, out int unit, out int count)) work.RunPanels(unit * _granule, Math.Min((unit + count) * _granule, _panels));
            if (!StealInto(index)) return;
        }
    }

    /// <summary>
    /// The next run from the front of range <paramref name="r"/>: half of what is left (at least one granule). Each claim
    /// is a locked instruction, which stalls the core's loads, and a break in the stream: claiming one panel at a time read
    /// 54-61 GB/s where one claim per range read 71-74 (2560 x 2560 q4 GEMVs, 2 threads); halving keeps the claims to a
    /// logarithm of the range and what a stalled thread holds to half of its range.
    /// </summary>
    bool TakeFront(int r, out int unit, out int count)
    {
        ref long word = ref _range[r * RangeStride];
        while (true)
        {
            long s = Volatile.Read(ref word);
            int front = (int)s, end = (int)(s >> 32);
            unit = front;
            count = Math.Max(1, (end - front) / 2);
            if (front >= end) return false;
            if (Interlocked.CompareExchange(ref word, s + count, s) == s) return true;
        }
    }

    /// <summary>Moves the back half of the fullest other range into range <paramref name="r"/> (empty now); false when no work is left.</summary>
    bool StealInto(int r)
    {
        while (true)
        {
            int victim = -1, most = 0;
            for (int v = 0; v < _ranges; v++)
            {
                long s = Volatile.Read(ref _range[v * RangeStride]);
                int left = (int)(s >> 32) - (int)s;
                if (v != r && left > most) (victim, most) = (v, left);
            }
            if (victim < 0) return false;
            ref long word = ref _range[victim * RangeStride];
            long seen = Volatile.Read(ref word);
            int front = (int)seen, end = (int)(seen >> 32);
            if (front >= end) continue;
            int mid = front + (end - front) / 2;   // one unit left: take it whole
            if (Interlocked.CompareExchange(ref word, (long)mid << 32 | (uint)front, seen) != seen) continue;
            Volatile.Write(ref _range[r * RangeStride], (long)end << 32 | (uint)mid);
            return true;
        }
    }
}
