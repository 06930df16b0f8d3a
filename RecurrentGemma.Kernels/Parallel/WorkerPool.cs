using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace RecurrentGemma.Kernels.Parallel;

/// <summary>One unit of a parallel job: <see cref="Execute"/> runs once for every index in [0, count).</summary>
public interface IParallelWork
{
    void Execute(int index);
}

/// <summary>
/// A persistent pool: <c>Threads - 1</c> worker threads started once, plus the calling thread, which works too.
/// <see cref="Run"/> hands out indices dynamically (an interlocked counter), allocates nothing, and returns when all are
/// done. Between jobs a worker spins on a generation counter for up to <see cref="SpinMicroseconds"/> (a decode step
/// issues a matmul every few tens of microseconds, and waking a blocked thread costs more than that), then blocks.
/// A pool runs one job at a time: a second thread calling <see cref="Run"/> meanwhile runs its job alone on its own
/// thread instead of waiting.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    const double SpinMicroseconds = 1000;

    readonly Thread[] _workers;
    readonly object _runLock = new(), _sleepLock = new();
    IParallelWork? _work;
    int _count, _next, _active, _sleepers;
    long _generation;
    Exception? _error;
    volatile bool _stopping;

    /// <summary>Total threads that run a job, the caller included.</summary>
    public int Threads { get; }

    /// <param name="threads">Threads per job including the caller; 0 means one per processor.</param>
    public WorkerPool(int threads = 0)
    {
        if (threads < 0) throw new ArgumentOutOfRangeException(nameof(threads), threads, "thread count must be positive (or 0 for one per processor)");
        Threads = threads == 0 ? Environment.ProcessorCount : threads;
        _workers = new Thread[Threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"rgemma-worker-{i + 1}" };
            _workers[i].Start();
        }
    }

    /// <summary>Runs work.Execute(i) for i in [0, count) across the pool; rethrows the first exception a task threw (after all tasks ended).</summary>
    public void Run(IParallelWork work, int count)
    {
        if (count <= 0) return;
        if (count == 1 || _workers.Length == 0 || !Monitor.TryEnter(_runLock))
        {
            for (int i = 0; i < count; i++) work.Execute(i);
            return;
        }
        try
        {
            ObjectDisposedException.ThrowIf(_stopping, this);
            _work = work;
            _count = count;
            _next = 0;
            _error = null;
            Volatile.Write(ref _active, _workers.Length);
            Publish();
            Drain(work);
            var spin = new SpinWait();
            while (Volatile.Read(ref _active) != 0) spin.SpinOnce(sleep1Threshold: -1);
            _work = null;
            if (_error is { } error) ExceptionDispatchInfo.Throw(error);
        }
        finally
        {
            Monitor.Exit(_runLock);
        }
    }

    void Drain(IParallelWork work)
    {
        int i;
        while ((i = Interlocked.Increment(ref _next) - 1) < _count)
        {
            try { work.Execute(i); }
            catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
        }
    }

    /// <summary>Starts a new generation: spinning workers see it at once, blocked ones are pulsed.</summary>
    void Publish()
    {
        Interlocked.Increment(ref _generation);   // full fence, paired with the one in WaitForGeneration
        if (Volatile.Read(ref _sleepers) > 0)
            lock (_sleepLock) Monitor.PulseAll(_sleepLock);
    }

    long WaitForGeneration(long seen)
    {
        long start = Stopwatch.GetTimestamp();
        while (Volatile.Read(ref _generation) == seen)
        {
            if (Stopwatch.GetElapsedTime(start).TotalMicroseconds < SpinMicroseconds)
            {
                Thread.SpinWait(16);
                continue;
            }
            lock (_sleepLock)
            {
                Interlocked.Increment(ref _sleepers);
                while (Volatile.Read(ref _generation) == seen) Monitor.Wait(_sleepLock);
                Interlocked.Decrement(ref _sleepers);
            }
        }
        return Volatile.Read(ref _generation);
    }

    void WorkerLoop()
    {
        long seen = 0;
        while (true)
        {
            seen = WaitForGeneration(seen);
            if (_stopping) return;
            Drain(_work!);
            Interlocked.Decrement(ref _active);
        }
    }

    public void Dispose()
    {
        lock (_runLock)
        {
            if (_stopping) return;
            _stopping = true;
            Publish();
        }
        foreach (var t in _workers) t.Join();
    }
}
