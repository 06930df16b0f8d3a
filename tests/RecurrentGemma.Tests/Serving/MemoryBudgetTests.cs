using FsCheck.Xunit;
using RecurrentGemma.Core;
using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Core.State;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests.Serving;

/// <summary>
/// The server's one byte budget: it never hands out more blocks than it holds, serves waiters in arrival order, lets
/// nobody jump the queue, takes idle cached states back for live requests, and gives a cancelled waiter's place away.
/// </summary>
public sealed class MemoryBudgetTests
{
    static readonly Lazy<TextGenerator> Demo = new(() => TextGenerator.Open(TestData.DemoModel));
    static ModelConfig Config => Demo.Value.Model.Config;
    static long Block => SequenceState.BytesFor(Config) + 4L * Config.VocabSize;

    static MemoryBudget Budget(int blocks, long fixedBytes = 1000) => new(Config, fixedBytes + blocks * Block + Block / 2, fixedBytes);

    [Fact]
    public async Task Capacity_is_fixed_buffers_plus_whole_blocks_and_too_small_a_budget_is_refused_with_the_numbers()
    {
        var budget = Budget(3);
        Assert.Equal(3, budget.MaxBlocks);
        Assert.Equal(Block, budget.BlockBytes);
        Assert.Equal(1000, budget.UsedBytes);
        var e = Assert.Throws<RecurrentGemmaException>(() => new MemoryBudget(Config, Block, 1000));
        Assert.Contains("cannot hold the engine's fixed buffers", e.Message);
        Assert.Contains("MB", e.Message);
        var never = await Assert.ThrowsAsync<RecurrentGemmaException>(() => budget.RentAsync(4));
        Assert.Contains("holds at most 3", never.Message);
    }

    [Fact]
    public async Task Waiters_are_served_in_arrival_order_and_nobody_jumps_the_queue()
    {
        var budget = Budget(3);
        var first = await budget.RentAsync(2);
        var big = budget.RentAsync(3);        // waits: 1 free
        var small = budget.RentAsync(1);      // waits behind it although 1 is free
        Assert.False(big.IsCompleted);
        Assert.False(small.IsCompleted);
        Assert.Null(budget.TryRent());        // TryRent never passes a waiter
        Assert.Equal(2, budget.Waiting);
        foreach (var b in first) budget.Return(b);
        var three = await big.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(3, three.Length);
        Assert.False(small.IsCompleted);
        budget.Return(three[0]);
        Assert.Single(await small.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(3, budget.BlocksInUse);
    }

    [Fact]
    public async Task A_cancelled_waiter_leaves_the_queue_and_the_next_is_served()
    {
        var budget = Budget(2);
        var held = await budget.RentAsync(2);
        using var cancel = new CancellationTokenSource();
        var leaving = budget.RentAsync(2, cancel.Token);
        var staying = budget.RentAsync(1);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);
        budget.Return(held[0]);
        Assert.Single(await staying.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, budget.Waiting);
    }

    [Fact]
    public async Task Given_back_blocks_are_reused_not_reallocated_and_double_returns_are_ignored()
    {
        var budget = Budget(2);
        var a = (await budget.RentAsync(1))[0];
        budget.Return(a);
        budget.Return(a);
        Assert.Equal(0, budget.BlocksInUse);
        Assert.Equal(Block, budget.IdleBytes);
        var again = budget.TryRent();
        Assert.Same(a, again);
    }

    [Fact]
    public async Task The_state_cache_lives_in_the_budget_and_gives_its_oldest_states_back_to_live_requests()
    {
        var generator = Demo.Value;
        var budget = Budget(3);
        var cache = new PromptStateCache(generator, long.MaxValue, budget);
        int[][] prompts = [[2, 10, 11], [2, 20, 21], [2, 30, 31]];
        foreach (var ids in prompts)
        {
            var session = generator.CreateSession((await budget.RentAsync(1))[0]);
            await session.AppendAsync(ids);
            cache.Add(session);
        }
        Assert.Equal(3, cache.Count);
        Assert.Equal(3, budget.BlocksInUse);
        // A live request needs two: the two least recently used entries go.
        var live = await budget.RentAsync(2).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(1, cache.Count);
        Assert.Equal(3, budget.BlocksInUse);
        var hit = cache.Lookup([2, 30, 31, 5], out int cached, live[0]);
        Assert.Equal(3, cached);
        Assert.Equal([2, 30, 31], hit.History);
        hit.Dispose();
        budget.Return(live[1]);
        Assert.Equal(1, budget.BlocksInUse);
        // A copy at a checkpoint is made only when a block is free without anyone waiting.
        var held = await budget.RentAsync(2);   // with the cached entry: all 3
        var waiter = budget.RentAsync(2);       // takes the cached entry back, is still one short: waits
        Assert.False(waiter.IsCompleted);
        Assert.Equal(0, cache.Count);
        var s = generator.CreateSession(held[0]);
        await s.AppendAsync([2, 40]);
        cache.AddCopy(s);                       // one block is idle, but someone waits: no copy
        Assert.Equal(0, cache.Count);
        Assert.False(waiter.IsCompleted);
        s.Dispose();
        Assert.Equal(2, (await waiter.WaitAsync(TimeSpan.FromSeconds(5))).Length);
        Assert.Throws<ObjectDisposedException>(() => s.Fork());
    }

    [Property(MaxTest = 20)]
    public void Concurrent_renters_never_hold_more_than_the_budget_and_all_are_served(int seed)
    {
        var rng = new Random(seed);
        int max = 1 + rng.Next(6);
        var budget = Budget(max, fixedBytes: 0);
        int held = 0, peak = 0, served = 0;
        var tasks = Enumerable.Range(0, 24).Select(i => Task.Run(async () =>
        {
            var local = new Random(seed * 31 + i);
            int want = 1 + local.Next(max);
            using var cancel = new CancellationTokenSource(local.Next(4) == 0 ? 1 : 60_000);
            StateBlock[] blocks;
            try { blocks = await budget.RentAsync(want, cancel.Token); }
            catch (OperationCanceledException) { return; }
            int now = Interlocked.Add(ref held, want);
            InterlockedMax(ref peak, now);
            await Task.Delay(local.Next(3));
            Interlocked.Add(ref held, -want);
            foreach (var b in blocks) budget.Return(b);
            Interlocked.Increment(ref served);
        })).ToArray();
        Assert.True(Task.WaitAll(tasks, TimeSpan.FromSeconds(30)), "a renter waited forever");
        Assert.True(peak <= max, $"{peak} blocks held at once, budget {max}");
        Assert.True(served > 0);
        Assert.Equal(0, budget.BlocksInUse);
        Assert.Equal(0, budget.Waiting);
    }

    static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }
}
