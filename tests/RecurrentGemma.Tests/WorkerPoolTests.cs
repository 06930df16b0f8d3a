using RecurrentGemma.Kernels.Parallel;
using Xunit;

namespace RecurrentGemma.Tests;

public class WorkerPoolTests
{
    sealed class CountingWork(int n) : IParallelWork
    {
        public readonly int[] Hits = new int[n];
        public void Execute(int index) => Interlocked.Increment(ref Hits[index]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public void Every_index_runs_exactly_once_across_many_jobs(int threads)
    {
        using var pool = new WorkerPool(threads);
        Assert.Equal(threads, pool.Threads);
        for (int job = 0; job < 200; job++)
        {
            var work = new CountingWork(job % 37);
            pool.Run(work, work.Hits.Length);
            Assert.All(work.Hits, h => Assert.Equal(1, h));
        }
    }

    [Fact]
    public void Two_callers_at_once_both_complete()
    {
        using var pool = new WorkerPool(2);
        var works = new[] { new CountingWork(5000), new CountingWork(5000) };
        System.Threading.Tasks.Parallel.For(0, 2, i => { for (int r = 0; r < 20; r++) pool.Run(works[i], 5000); });
        foreach (var w in works) Assert.All(w.Hits, h => Assert.Equal(20, h));
    }

    sealed class FailingWork : IParallelWork
    {
        public void Execute(int index)
        {
            if (index == 3) throw new InvalidOperationException("task 3 failed");
        }
    }

    [Fact]
    public void A_failing_task_surfaces_and_the_pool_keeps_working()
    {
        using var pool = new WorkerPool(2);
        var e = Assert.Throws<InvalidOperationException>(() => pool.Run(new FailingWork(), 10));
        Assert.Equal("task 3 failed", e.Message);
        var work = new CountingWork(10);
        pool.Run(work, 10);
        Assert.All(work.Hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void Default_is_one_thread_per_processor_and_negative_is_refused()
    {
        using var pool = new WorkerPool();
        Assert.Equal(Environment.ProcessorCount, pool.Threads);
        Assert.Throws<ArgumentOutOfRangeException>(() => new WorkerPool(-1));
    }
}

/// <summary>The process-wide workers: shared by every pool, and a job wakes no more of them than it has tasks.</summary>
public class WorkerThreadsTests
{
    sealed class ThreadRecorder : IParallelWork
    {
        public readonly System.Collections.Concurrent.ConcurrentDictionary<int, bool> Threads = new();
        public void Execute(int index)
        {
            Threads[Environment.CurrentManagedThreadId] = true;
            Thread.SpinWait(20_000);   // long enough that idle workers, if woken, would take a task
        }
    }

    [Fact]
    public void Pools_share_one_set_of_workers()
    {
        using var a = new WorkerPool(4);
        int workers = WorkerThreads.Shared.Workers;
        Assert.True(workers >= 3);
        using var b = new WorkerPool(4);
        using var c = new WorkerPool(2);
        Assert.Equal(workers, WorkerThreads.Shared.Workers);   // no new threads for budgets that fit
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 3)]
    public void A_job_runs_on_at_most_as_many_threads_as_it_has_tasks(int tasks, int maxThreads)
    {
        using var pool = new WorkerPool(6);
        for (int round = 0; round < 20; round++)
        {
            var work = new ThreadRecorder();
            pool.Run(work, tasks);
            Assert.InRange(work.Threads.Count, 1, maxThreads);
            if (tasks == 1) Assert.Equal([Environment.CurrentManagedThreadId], work.Threads.Keys);
        }
    }

    [Fact]
    public void A_budget_caps_the_threads_of_a_job()
    {
        using var pool = new WorkerPool(2);
        var work = new ThreadRecorder();
        pool.Run(work, 64);
        Assert.InRange(work.Threads.Count, 1, 2);
    }

    [Fact]
    public async Task Back_to_back_jobs_of_changing_size_run_each_index_exactly_once()
    {
        // More threads than cores, so workers are preempted mid-claim: a worker that read one job's last claim must not
        // take an index of the next, larger job (it would run twice, and the job would never finish).
        using var pool = new WorkerPool(Environment.ProcessorCount + 3);
        var rng = new Random(11);
        var deadline = DateTime.UtcNow.AddSeconds(3);
        for (int job = 0; job < 30_000 && DateTime.UtcNow < deadline; job++)
        {
            int n = 1 + rng.Next(job % 2 == 0 ? 3 : 12);
            var work = new CountingWork(n);
            await Task.Run(() => pool.Run(work, n)).WaitAsync(TimeSpan.FromSeconds(10));   // a lost task never finishes
            Assert.All(work.Hits, h => Assert.Equal(1, h));
        }
    }

    sealed class CountingWork(int n) : IParallelWork
    {
        public readonly int[] Hits = new int[n];
        public void Execute(int index) => Interlocked.Increment(ref Hits[index]);
    }

    sealed class NestingWork(WorkerPool pool) : IParallelWork
    {
        public readonly CountingWork[] Inner = [.. Enumerable.Range(0, 8).Select(_ => new CountingWork(16))];
        public void Execute(int index) => pool.Run(Inner[index], 16);   // a task that starts a job of its own
    }

    [Fact]
    public async Task A_job_started_inside_a_task_runs_alone_and_the_outer_job_still_finishes()
    {
        using var pool = new WorkerPool(3);
        var work = new NestingWork(pool);
        await Task.Run(() => pool.Run(work, 8)).WaitAsync(TimeSpan.FromSeconds(10));
        foreach (var inner in work.Inner) Assert.All(inner.Hits, h => Assert.Equal(1, h));
    }
}
