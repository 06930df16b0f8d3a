using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.State;

namespace RecurrentGemma.Core.Serving;

/// <summary>
/// One byte budget for everything sequences hold: the engine's fixed buffers (counted once), and per sequence one
/// <see cref="StateBlock"/> (its constant-size state, its last logits and room for its token history). Blocks are
/// rented when a request is admitted and given back when it ends; given-back blocks stay allocated and are handed out
/// again (no large-object-heap churn per request), so what the process holds for sequences never passes
/// <see cref="CapacityBytes"/>, however many requests come.
/// <para>
/// <see cref="RentAsync"/> waits in arrival order (first come, first served: a large request is not passed forever by
/// small ones); <see cref="TryRent"/> takes a block only when nobody waits. When no block is free, the budget asks
/// <see cref="Reclaim"/> (the conversation-state cache) for one it holds idle: a live request outranks a cached state.
/// A caller that holds blocks must never wait for more (rent everything it cannot do without at once), so waiting
/// callers hold nothing and the queue always drains. Thread-safe.
/// </para>
/// </summary>
public sealed class MemoryBudget
{
    readonly ModelConfig _config;
    readonly Lock _lock = new();
    readonly Stack<StateBlock> _idle = new();
    readonly LinkedList<Waiter> _waiters = new();
    int _rented;   // blocks handed out (or being created for a caller); _rented + _idle.Count <= MaxBlocks always

    sealed class Waiter(int count)
    {
        public readonly int Count = count;
        public readonly TaskCompletionSource<Grant> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration;
    }

    /// <summary>Blocks taken from the idle stack, and how many more the caller must create.</summary>
    readonly record struct Grant(StateBlock[] Idle, int Create);

    /// <param name="config">The model whose states the blocks hold.</param>
    /// <param name="capacityBytes">The whole budget.</param>
    /// <param name="fixedBytes">Memory the engine holds whatever runs (its step logits and scratch activations).</param>
    /// <param name="historyTokens">Token history each block makes room for (a sequence's longest prompt plus answer).</param>
    public MemoryBudget(ModelConfig config, long capacityBytes, long fixedBytes, int historyTokens = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfNegative(fixedBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(historyTokens);
        _config = config;
        CapacityBytes = capacityBytes;
        FixedBytes = fixedBytes;
        BlockBytes = SequenceState.BytesFor(config) + 4L * config.VocabSize + 4L * historyTokens;
        if (capacityBytes < fixedBytes + BlockBytes)
            throw new RecurrentGemmaException($"a memory budget of {Megabytes(capacityBytes)} cannot hold the engine's fixed buffers "
                + $"({Megabytes(fixedBytes)}) and one sequence ({Megabytes(BlockBytes)}); it needs at least {Megabytes(fixedBytes + BlockBytes)}");
        MaxBlocks = (int)Math.Min((capacityBytes - fixedBytes) / BlockBytes, SchedulerOptions.MaxSequences);
    }

    public long CapacityBytes { get; }
    public long FixedBytes { get; }
    /// <summary>Bytes one sequence takes: state, logits and history room.</summary>
    public long BlockBytes { get; }
    /// <summary>Sequences (running, queued, forked or cached) the budget holds at most.</summary>
    public int MaxBlocks { get; }

    /// <summary>Bytes held for live sequences and cached states, the fixed buffers included.</summary>
    public long UsedBytes { get { lock (_lock) return FixedBytes + _rented * BlockBytes; } }
    /// <summary>Bytes of blocks given back and kept for the next request (allocated, not in use).</summary>
    public long IdleBytes { get { lock (_lock) return _idle.Count * BlockBytes; } }
    public int BlocksInUse { get { lock (_lock) return _rented; } }
    /// <summary>Callers waiting for blocks.</summary>
    public int Waiting { get { lock (_lock) return _waiters.Count; } }

    /// <summary>
    /// Asked, while no block is free, for one held idle elsewhere (the state cache's least recently used entry, whose
    /// session is dead from then on); null when there is none. Called under the budget's lock: it must not call back.
    /// </summary>
    public Func<StateBlock?>? Reclaim { get; set; }

    /// <summary>One block now if one is free (or can be reclaimed) and nobody is waiting; null otherwise. Never waits.</summary>
    public StateBlock? TryRent()
    {
        Grant grant;
        lock (_lock)
        {
            if (_waiters.Count > 0 || !TryTake(1, out grant)) return null;
        }
        return Complete(grant)[0];
    }

    /// <summary>
    /// <paramref name="count"/> blocks, when they are free, in arrival order. Throws <see cref="RecurrentGemmaException"/>
    /// at once if the budget can never hold that many, and <see cref="OperationCanceledException"/> if cancelled while waiting.
    /// </summary>
    public async Task<StateBlock[]> RentAsync(int count, CancellationToken cancellation = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (count > MaxBlocks)
            throw new RecurrentGemmaException($"{count} sequences need {Megabytes(count * BlockBytes)}; the memory budget of {Megabytes(CapacityBytes)} "
                + $"holds at most {MaxBlocks} ({Megabytes(BlockBytes)} each after {Megabytes(FixedBytes)} of engine buffers)");
        cancellation.ThrowIfCancellationRequested();
        Waiter waiter;
        lock (_lock)
        {
            if (_waiters.Count == 0 && TryTake(count, out var now)) return Complete(now);
            waiter = new Waiter(count);
            var node = _waiters.AddLast(waiter);
            if (cancellation.CanBeCanceled)
                waiter.Registration = cancellation.UnsafeRegister(_ => Abandon(node), null);
        }
        Grant grant;
        try
        {
            grant = await waiter.Done.Task.ConfigureAwait(false);
        }
        finally
        {
            await waiter.Registration.DisposeAsync().ConfigureAwait(false);
        }
        return Complete(grant);
    }

    /// <summary>Gives a block back (a session's Dispose does this); it is kept for the next rent.</summary>
    public void Return(StateBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        if (block.Owner != this) throw new ArgumentException("the block belongs to another memory budget", nameof(block));
        if (Interlocked.Exchange(ref block.Rented, 0) == 0) return;   // given back already
        lock (_lock)
        {
            _rented--;
            _idle.Push(block);
            ServeWaiters();
        }
    }

    /// <summary>Serves waiting callers again: after something that <see cref="Reclaim"/> can give was added (a state cached).</summary>
    public void Pump()
    {
        lock (_lock) ServeWaiters();
    }

    void ServeWaiters()
    {
        while (_waiters.First is { } head && TryTake(head.Value.Count, out var grant))
        {
            _waiters.RemoveFirst();
            head.Value.Done.SetResult(grant);   // a waiter in the list is never cancelled: Abandon removes it first, under this lock
        }
    }

    void Abandon(LinkedListNode<Waiter> node)
    {
        lock (_lock)
        {
            if (node.List is null) return;   // served already: the caller gets its blocks and gives them back itself
            _waiters.Remove(node);
            node.Value.Done.TrySetCanceled();
            ServeWaiters();   // the next in line may fit now
        }
    }

    /// <summary>Under the lock: takes count blocks (reclaiming idle ones held elsewhere as needed) or nothing.</summary>
    bool TryTake(int count, out Grant grant)
    {
        while (MaxBlocks - _rented < count)
        {
            if (Reclaim?.Invoke() is not { } reclaimed) { grant = default; return false; }
            reclaimed.Rented = 0;
            _rented--;
            _idle.Push(reclaimed);
        }
        int fromIdle = Math.Min(count, _idle.Count);
        var idle = new StateBlock[fromIdle];
        for (int i = 0; i < fromIdle; i++) idle[i] = _idle.Pop();
        _rented += count;
        grant = new Grant(idle, count - fromIdle);
        return true;
    }

    /// <summary>Outside the lock: creates the blocks the grant could not take idle; on failure gives everything back.</summary>
    StateBlock[] Complete(Grant grant)
    {
        var blocks = new StateBlock[grant.Idle.Length + grant.Create];
        grant.Idle.CopyTo(blocks, 0);
        int made = grant.Idle.Length;
        try
        {
            for (; made < blocks.Length; made++) blocks[made] = new StateBlock(this, _config);
        }
        catch
        {
            lock (_lock) _rented -= blocks.Length - made;   // the ones never made
            for (int i = 0; i < made; i++) { blocks[i].Rented = 1; Return(blocks[i]); }
            throw;
        }
        foreach (var block in blocks) block.Rented = 1;
        return blocks;
    }

    static string Megabytes(long bytes) => $"{bytes / (1024.0 * 1024):0.#} MB";

    /// <summary>
    /// Memory this process could take now without pressing the machine: the smaller of what the OS reports available
    /// (Linux: MemAvailable) and the runtime's limit (the machine's memory, or a container's limit) less what the process
    /// already holds.
    /// </summary>
    public static long SpareBytes()
    {
        long limit = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - Environment.WorkingSet;
        long available = AvailableFromOs() ?? limit;
        return Math.Max(0, Math.Min(limit, available));
    }

    static long? AvailableFromOs()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                {
                    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
                }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }
}

/// <summary>
/// One sequence's memory from a <see cref="MemoryBudget"/>: its state and its logits. A session made on it
/// (<see cref="Generation.TextGenerator.CreateSession(StateBlock)"/>, <see cref="Generation.GenerationSession.Fork(StateBlock)"/>)
/// gives it back when disposed.
/// </summary>
public sealed class StateBlock
{
    internal readonly MemoryBudget Owner;
    internal readonly SequenceState State;
    internal readonly float[] Logits;
    internal int Rented;

    internal StateBlock(MemoryBudget owner, ModelConfig config)
    {
        Owner = owner;
        State = new SequenceState(config);
        Logits = new float[config.VocabSize];
    }

    public ModelConfig Config => State.Config;
}
