using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace RecurrentGemma.Kernels.Parallel;

/// <summary>One unit of a parallel job: <see cref="Execute"/> runs once for every index in [0, count).</summary>
public interface IParallelWork
{
    void Execute(int index);
}

/// <summary>
/// A thread budget over the process's one set of worker threads (<see cref="WorkerThreads"/>): a job of <c>count</c>
/// tasks runs on at most <see cref="Threads"/> threads, the caller included, and wakes only as many workers as it has
/// tasks to share. Every pool of the process (every model, every test) draws on the same workers, so two models never
/// oversubscribe the machine: a job that finds the workers busy runs alone on its caller's thread instead of waiting.
/// Cheap to create; <see cref="Dispose"/> is a no-op kept for callers that scope it.
/// </summary>
public sealed class WorkerPool(int threads = 0) : IDisposable
{
    /// <summary>
    /// The most threads a pool may ask for. Each is an OS thread that lives as long as the process, so the library bounds
    /// them itself rather than trusting every caller to: 1024 is 4x the largest machines these kernels run on.
    /// </summary>
    public const int MaxThreads = 1024;

    /// <summary>Threads per job including the caller; 0 means one per processor.</summary>
    public int Threads { get; } = threads switch
    {
        < 0 or > MaxThreads => throw new ArgumentOutOfRangeException(nameof(threads), threads, $"thread count {threads} must be in [1, {MaxThreads}] (or 0 for one per processor)"),
        0 => WorkerThreads.Reserve(Environment.ProcessorCount),
        _ => WorkerThreads.Reserve(threads),
    };

    /// <summary>Runs work.Execute(i) for i in [0, count); rethrows the first exception a task threw (after all tasks ended).</summary>
    public void Run(IParallelWork work, int count) => WorkerThreads.Shared.Run(work, count, Threads);

    public void Dispose() { }
}

/// <summary>
/// The process-wide worker threads behind every <see cref="WorkerPool"/>: started on demand (as many as the largest
/// thread budget asked for, minus the caller), never more. A job posts itself to exactly the workers it needs, each
/// through its own slot; tasks are claimed one at a time from a counter tagged with the job's number, and the job is
/// done when all its tasks are done, not when every woken worker has checked in, so a worker the OS has not scheduled
/// yet (more threads than cores, a busy machine) delays nobody: when it runs, it finds the job over and goes back to
/// waiting. Nothing is allocated per job. After a job a worker spins on its slot for <see cref="SpinMicroseconds"/>
/// (yielding to other runnable threads as it spins: a decode step issues a matmul every few tens of microseconds, and
/// waking a blocked thread costs more than that), then blocks. The hot counters sit on cache lines of their own.
/// </summary>
public sealed class WorkerThreads
{
    /// <summary>
    /// How long an idle worker spins before it blocks, in microseconds: RGEMMA_SPIN_US (0 to 100000), default 200.
    /// Higher keeps workers hot across longer serial phases (at the cost of those cores); 0 blocks at once.
    /// </summary>
    public static double SpinMicroseconds { get; set; } = ReadSpinSetting();

    public static WorkerThreads Shared { get; } = new();

    readonly object _runLock = new();
    readonly List<Slot> _slots = [];
    IParallelWork? _work;
    int _count;
    Exception? _error;
    HotCounters _hot;

    /// <summary>Worker threads started so far (the caller of a job is not one of them).</summary>
    public int Workers { get { lock (_runLock) return _slots.Count; } }

    /// <summary>Makes sure a budget of <paramref name="threads"/> can run (threads - 1 workers exist); returns it.</summary>
    internal static int Reserve(int threads)
    {
        Shared.EnsureWorkers(threads - 1);
        return threads;
    }

    void EnsureWorkers(int workers)
    {
        if (Volatile.Read(ref _hot.WorkerCount) >= workers) return;
        lock (_runLock)   // no job runs while workers are added
        {
            while (_slots.Count < workers)
            {
                var slot = new Slot();
                _slots.Add(slot);
                new Thread(() => WorkerLoop(slot)) { IsBackground = true, Name = $"rgemma-worker-{_slots.Count}" }.Start();
            }
            Volatile.Write(ref _hot.WorkerCount, _slots.Count);
        }
    }

    internal void Run(IParallelWork work, int count, int threads)
    {
        if (count <= 0) return;
        int helpers = Math.Min(Math.Min(count, threads) - 1, Volatile.Read(ref _hot.WorkerCount));
        // Busy workers, or a job started from inside a task of the running one (the lock is re-entrant on its owner):
        // this job runs on its caller alone.
        if (helpers <= 0 || Monitor.IsEntered(_runLock) || !Monitor.TryEnter(_runLock))
        {
            for (int i = 0; i < count; i++) work.Execute(i);
            return;
        }
        try
        {
            _work = work;
            _count = count;
            _error = null;
            Volatile.Write(ref _hot.Done, 0);
            long job = ++_hot.Job;
            Volatile.Write(ref _hot.Claim, job << 32);   // publishes the job: claims are (job, next index)
            for (int i = 0; i < helpers; i++) _slots[i].Post(job);   // only the workers this job can use
            Drain(job);
            var spin = new SpinWait();
            while (Volatile.Read(ref _hot.Done) != count) spin.SpinOnce(sleep1Threshold: -1);
            // Closed before the next job may write _work and _count: a worker that read this job's final claim must not
            // pair it with the next job's count and take an index that is not this job's (it would run twice).
            Volatile.Write(ref _hot.Claim, job << 32 | Closed);
            _work = null;
            if (_error is { } error) ExceptionDispatchInfo.Throw(error);
        }
        finally
        {
            Monitor.Exit(_runLock);
        }
    }

    /// <summary>Claims and runs tasks of <paramref name="job"/> until none is left (or the job is no longer current).</summary>
    void Drain(long job)
    {
        while (true)
        {
            long claim = Volatile.Read(ref _hot.Claim);
            if (claim >> 32 != job) return;
            IParallelWork? work = _work;
            uint index = (uint)claim;
            if (index >= (uint)_count || work is null) return;   // all claimed, or closed
            // The tag makes a stale claim fail: a worker that read the counter of a job that has since ended cannot take an
            // index of the next one.
            if (Interlocked.CompareExchange(ref _hot.Claim, claim + 1, claim) != claim) continue;
            try { work.Execute((int)index); }
            catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
            Interlocked.Increment(ref _hot.Done);
        }
    }

    void WorkerLoop(Slot slot)
    {
        long seen = 0;
        while (true)
        {
            seen = slot.WaitForJob(seen);
            Drain(seen);
        }
    }

    /// <summary>The claim index of a job that has ended: above any count.</summary>
    const long Closed = 0xFFFFFFFF;

    static double ReadSpinSetting() =>
        double.TryParse(Environment.GetEnvironmentVariable("RGEMMA_SPIN_US"), System.Globalization.CultureInfo.InvariantCulture, out double us)
            ? Math.Clamp(us, 0, 100_000) : 200;

    /// <summary>The counters every thread of a job touches, 64 bytes apart (no false sharing between them or with the slots).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 320)]
    struct HotCounters
    {
        [FieldOffset(64)] public long Claim;
        [FieldOffset(128)] public int Done;
        [FieldOffset(192)] public long Job;
        [FieldOffset(256)] public int WorkerCount;
    }

    /// <summary>One worker's mailbox: the last job posted to it, on its own cache line; it spins on it, then blocks.</summary>
    sealed class Slot
    {
        Padding _before;   // keeps _posted off the cache lines of neighbouring objects
        long _posted;
        int _sleeping;
        Padding _after;

        public Slot() => (_before, _after) = (default, default);

        public void Post(long job)
        {
            Interlocked.Exchange(ref _posted, job);   // full fence, paired with the sleeper's check below
            if (Volatile.Read(ref _sleeping) != 0)
                lock (this) Monitor.Pulse(this);
        }

        public long WaitForJob(long seen)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            var spin = new SpinWait();
            while (Volatile.Read(ref _posted) == seen)
            {
                if (System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMicroseconds < SpinMicroseconds)
                {
                    spin.SpinOnce(sleep1Threshold: -1);   // yields now and then, so an oversubscribed core runs the others
                    continue;
                }
                lock (this)
                {
                    Interlocked.Exchange(ref _sleeping, 1);
                    while (Volatile.Read(ref _posted) == seen) Monitor.Wait(this);
                    _sleeping = 0;
                }
            }
            return Volatile.Read(ref _posted);
        }
    }

    [InlineArray(8)]
    struct Padding { long _element; }
}
