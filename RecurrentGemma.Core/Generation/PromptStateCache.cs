using RecurrentGemma.Core.Serving;
using RecurrentGemma.Core.State;

namespace RecurrentGemma.Core.Generation;

/// <summary>
/// Recent conversation states keyed by the exact tokens they hold, least recently used dropped first under a memory
/// budget. A recurrent state cannot be rewound, so a cached state is reusable only by a prompt that starts with all of its
/// tokens: a follow-up chat turn (its history is the cached prompt plus the answer), or another request with the same
/// system prompt (see <see cref="ChatPrompt"/>'s checkpoints). A state is constant-size, so an entry of a 2B costs the
/// same ~34 MB after ten tokens or ten thousand. Thread-safe; the cached sessions are never handed out, only copies.
/// <para>
/// With a <see cref="MemoryBudget"/>, the cache lives inside it: its entries are blocks of that budget (a copy is made
/// only when a block is free without making anyone wait), and when live requests need memory the budget takes the
/// least recently used entries back (<see cref="MemoryBudget.Reclaim"/>).
/// </para>
/// </summary>
public sealed class PromptStateCache
{
    readonly TextGenerator _generator;
    readonly MemoryBudget? _memory;
    readonly long _budget;
    readonly LinkedList<Entry> _entries = new();   // most recently used first
    readonly Lock _lock = new();
    long _bytes, _hits, _misses;

    sealed class Entry(int[] key, GenerationSession session, long bytes)
    {
        public readonly int[] Key = key;
        public readonly GenerationSession Session = session;
        public readonly long Bytes = bytes;
    }

    /// <param name="budgetBytes">Memory for cached states; 0 turns the cache off (every prompt is prefilled whole).</param>
    /// <param name="memory">The budget the cached states' blocks come from and go back to (null: the cache allocates its own).</param>
    public PromptStateCache(TextGenerator generator, long budgetBytes, MemoryBudget? memory = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(budgetBytes);
        _generator = generator;
        _budget = budgetBytes;
        _memory = memory;
        if (memory is not null)
        {
            if (memory.Reclaim is not null) throw new ArgumentException("the memory budget already has a cache reclaiming from it", nameof(memory));
            memory.Reclaim = ReclaimOldest;
        }
    }

    public bool Enabled => _budget > 0;
    public int Count { get { lock (_lock) return _entries.Count; } }
    public long Bytes { get { lock (_lock) return _bytes; } }
    public long Hits => Interlocked.Read(ref _hits);
    public long Misses => Interlocked.Read(ref _misses);

    long EntryBytes(int tokens) => _memory?.BlockBytes ?? SequenceState.BytesFor(_generator.Model.Config) + 4L * _generator.Model.Config.VocabSize + 4L * tokens;

    /// <summary>
    /// A new session holding the longest cached prefix of <paramref name="ids"/> (a copy: the cache keeps its own), and how
    /// many tokens that prefix has (0 on a miss: a fresh session). With <paramref name="target"/>, the session is made in
    /// that block's memory.
    /// </summary>
    public GenerationSession Lookup(ReadOnlySpan<int> ids, out int cachedTokens, StateBlock? target = null)
    {
        lock (_lock)
        {
            LinkedListNode<Entry>? bestNode = null;
            for (var node = _entries.First; node is not null; node = node.Next)
            {
                var key = node.Value.Key;
                if (key.Length <= ids.Length && key.Length > (bestNode?.Value.Key.Length ?? 0) && ids[..key.Length].SequenceEqual(key)) bestNode = node;
            }
            if (bestNode is not null)
            {
                _entries.Remove(bestNode);
                _entries.AddFirst(bestNode);
                Interlocked.Increment(ref _hits);
                cachedTokens = bestNode.Value.Key.Length;
                // Copied under the lock: a reclaim cannot take the entry's block while it is being read.
                var source = bestNode.Value.Session;
                return target is null ? source.Fork() : source.Fork(target);
            }
        }
        Interlocked.Increment(ref _misses);
        cachedTokens = 0;
        return target is null ? _generator.CreateSession() : _generator.CreateSession(target);
    }

    /// <summary>
    /// Keeps a copy of the session's state under its history (the caller goes on using its session). With a memory
    /// budget, only when a block is free without making a waiting request wait longer.
    /// </summary>
    public void AddCopy(GenerationSession session)
    {
        if (!Enabled || !Cacheable(session) || EntryBytes(session.History.Count) > _budget) return;
        if (_memory is null) { Add(session.Fork()); return; }
        if (_memory.TryRent() is not { } block) return;
        GenerationSession copy;
        try { copy = session.Fork(block); }
        catch
        {
            _memory.Return(block);
            throw;
        }
        Add(copy);
    }

    /// <summary>Keeps the session itself under its history; the caller must not use it afterwards (one not kept is disposed).</summary>
    public void Add(GenerationSession session)
    {
        if (!Enabled || !Cacheable(session) || EntryBytes(session.History.Count) > _budget)
        {
            session.Dispose();
            return;
        }
        int[] key = [.. session.History];
        var entry = new Entry(key, session, EntryBytes(key.Length));
        var dropped = new List<GenerationSession>();
        lock (_lock)
        {
            for (var node = _entries.First; node is not null; node = node.Next)
                if (node.Value.Key.AsSpan().SequenceEqual(key)) { dropped.Add(Drop(node)); break; }
            _entries.AddFirst(entry);
            _bytes += entry.Bytes;
            while (_bytes > _budget && _entries.Last is { } last) dropped.Add(Drop(last));
        }
        // Outside the lock: giving a block back takes the budget's lock, which is taken before this one (Reclaim).
        foreach (var old in dropped) old.Dispose();
        _memory?.Pump();
    }

    /// <summary>The budget's reclaim: the least recently used entry leaves and its block goes to the budget.</summary>
    StateBlock? ReclaimOldest()
    {
        lock (_lock)
        {
            while (_entries.Last is { } last)
            {
                var block = Drop(last).Detach();
                if (block is not null) return block;
            }
            return null;
        }
    }


    /// <summary>
    /// A session holding the whole prompt and its logits, ready to generate: from the longest cached prefix, prefilling
    /// the rest and caching a copy at each of <paramref name="checkpoints"/> on the way (the prompt's end among them).
    /// The answer is exactly what prefilling the whole prompt gives: a cached state is the state of those very tokens.
    /// </summary>
    public Task<PrefilledPrompt> PrefillAsync(int[] ids, IReadOnlyList<int> checkpoints, CancellationToken cancellation = default) =>
        PrefillAsync(ids, checkpoints, null, cancellation);

    /// <summary>
    /// <see cref="PrefillAsync(int[], IReadOnlyList{int}, CancellationToken)"/> in the memory of <paramref name="target"/>
    /// (null: a session of its own). If it fails or is cancelled, the session it made is disposed (the block goes back).
    /// </summary>
    public async Task<PrefilledPrompt> PrefillAsync(int[] ids, IReadOnlyList<int> checkpoints, StateBlock? target, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Length == 0) throw new RecurrentGemmaException("the prompt is empty");
        var session = Lookup(ids, out int cached, target);
        try
        {
            int at = cached;
            foreach (int point in checkpoints)
            {
                if (point <= at || point > ids.Length) continue;
                await session.AppendAsync(ids[at..point], cancellation).ConfigureAwait(false);
                at = point;
                AddCopy(session);
            }
            if (at < ids.Length) await session.AppendAsync(ids[at..], cancellation).ConfigureAwait(false);
            return new PrefilledPrompt(session, cached);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    static bool Cacheable(GenerationSession session) => session.History.Count > 0 && session.HasLogits && !session.IsBroken;

    GenerationSession Drop(LinkedListNode<Entry> node)
    {
        _entries.Remove(node);
        _bytes -= node.Value.Bytes;
        return node.Value.Session;
    }
}

/// <summary>A session holding a whole prompt (ready to generate from its logits), and how many of its tokens came from the cache.</summary>
public sealed record PrefilledPrompt(GenerationSession Session, int CachedTokens);
