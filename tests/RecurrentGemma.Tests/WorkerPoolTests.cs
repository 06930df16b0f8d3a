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
