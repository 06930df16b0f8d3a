using RecurrentGemma.Core.State;

namespace RecurrentGemma.Core.Generation;

/// <summary>
/// Recent conversation states keyed by the exact tokens they hold, least recently used dropped first under a memory
/// budget. A recurrent state cannot be rewound, so a cached state is reusable only by a prompt that starts with all of its
/// tokens: a follow-up chat turn (its history is the cached prompt plus the answer), or another request with the same
/// system prompt (see <see cref="ChatPrompt"/>'s checkpoints). A state is constant-size, so an entry of a 2B costs the
/// same ~34 MB after ten tokens or ten thousand. Thread-safe; the cached sessions are never handed out, only copies.
/// </summary>
public sealed class PromptStateCache
{
    readonly TextGenerator _generator;
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
    public PromptStateCache(TextGenerator generator, long budgetBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(budgetBytes);
        _generator = generator;
        _budget = budgetBytes;
    }

    public bool Enabled => _budget > 0;
    public int Count { get { lock (_lock) return _entries.Count; } }
    public long Bytes { get { lock (_lock) return _bytes; } }
    public long Hits => Interlocked.Read(ref _hits);
    public long Misses => Interlocked.Read(ref _misses);

    long EntryBytes(int tokens) => SequenceState.BytesFor(_generator.Model.Config) + 4L * _generator.Model.Config.VocabSize + 4L * tokens;

    /// <summary>
    /// A new session holding the longest cached prefix of <paramref name="ids"/> (a copy: the cache keeps its own), and how
    /// many tokens that prefix has (0 on a miss: a fresh session).
    /// </summary>
    public GenerationSession Lookup(ReadOnlySpan<int> ids, out int cachedTokens)
    {
        Entry? best = null;
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
                best = bestNode.Value;
            }
        }
        if (best is null)
        {
            Interlocked.Increment(ref _misses);
            cachedTokens = 0;
            return _generator.CreateSession();
        }
        Interlocked.Increment(ref _hits);
        cachedTokens = best.Key.Length;
        lock (best) return best.Session.Fork();   // one copy at a time: Fork takes the session's one-call guard
    }

    /// <summary>Keeps a copy of the session's state under its history (the caller goes on using its session).</summary>
    public void AddCopy(GenerationSession session)
    {
        if (!Enabled || !Cacheable(session)) return;
        Add(session.Fork());
    }

    /// <summary>Keeps the session itself under its history; the caller must not use it afterwards.</summary>
    public void Add(GenerationSession session)
    {
        if (!Enabled || !Cacheable(session)) return;
        int[] key = [.. session.History];
        long bytes = EntryBytes(key.Length);
        if (bytes > _budget) return;
        var entry = new Entry(key, session, bytes);
        lock (_lock)
        {
            for (var node = _entries.First; node is not null; node = node.Next)
                if (node.Value.Key.AsSpan().SequenceEqual(key)) { Drop(node); break; }
            _entries.AddFirst(entry);
            _bytes += bytes;
            while (_bytes > _budget && _entries.Last is { } last) Drop(last);
        }
    }

    /// <summary>
    /// A session holding the whole prompt and its logits, ready to generate: from the longest cached prefix, prefilling
    /// the rest and caching a copy at each of <paramref name="checkpoints"/> on the way (the prompt's end among them).
    /// The answer is exactly what prefilling the whole prompt gives: a cached state is the state of those very tokens.
    /// </summary>
    public async Task<PrefilledPrompt> PrefillAsync(int[] ids, IReadOnlyList<int> checkpoints, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Length == 0) throw new RecurrentGemmaException("the prompt is empty");
        var session = Lookup(ids, out int cached);
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

    static bool Cacheable(GenerationSession session) => session.History.Count > 0 && session.HasLogits && !session.IsBroken;

    void Drop(LinkedListNode<Entry> node)
    {
        _entries.Remove(node);
        _bytes -= node.Value.Bytes;
    }
}

/// <summary>A session holding a whole prompt (ready to generate from its logits), and how many of its tokens came from the cache.</summary>
public sealed record PrefilledPrompt(GenerationSession Session, int CachedTokens);
