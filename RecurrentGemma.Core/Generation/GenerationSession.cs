using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Core.State;

namespace RecurrentGemma.Core.Generation;

/// <summary>
/// One conversation: its constant-size state, the token history (for penalties), and the last logits. Each call
/// continues where the previous one stopped, so a new chat turn only prefills its new tokens. The work runs on the
/// generator's shared <see cref="BatchScheduler"/>, so sessions used at the same time by different callers are batched
/// together, each getting exactly what it would get alone. A session runs one call at a time: a second call while one
/// runs (from another thread, or a second enumeration) throws <see cref="InvalidOperationException"/>; many sessions may
/// share a generator. A session made on a <see cref="StateBlock"/> of a <see cref="MemoryBudget"/> gives the block back
/// when disposed; disposing any other session just ends it.
/// </summary>
public sealed class GenerationSession : IDisposable
{
    readonly TextGenerator _generator;
    readonly SessionLink _link;
    readonly StateBlock? _block;
    int _busy, _disposed;

    internal GenerationSession(TextGenerator generator, StateBlock? block = null)
    {
        _generator = generator;
        _block = block;
        _link = block is null
            ? new SessionLink(generator.Model.CreateState(), [], new float[generator.Model.Config.VocabSize])
            : new SessionLink(block.State, [], block.Logits);
    }

    /// <summary>
    /// Ends the session; one made on a <see cref="StateBlock"/> gives it back to its budget. Idempotent; throws
    /// <see cref="InvalidOperationException"/> while a call runs on the session. Any later call throws <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void Dispose()
    {
        if (Detach() is { } block) block.Owner.Return(block);
    }

    /// <summary>Ends the session and hands its block to the caller instead of the budget (the state cache's reclaim); null if it has none or is disposed.</summary>
    internal StateBlock? Detach()
    {
        if (Interlocked.CompareExchange(ref _disposed, 1, 0) != 0) return null;   // exactly one caller gets past here
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            Volatile.Write(ref _disposed, 0);
            throw Busy();
        }
        Volatile.Write(ref _busy, 0);
        return _block;
    }

    public IReadOnlyList<int> History => _link.History;
    public int Position => _link.State.Position;
    public GenerationUsage? LastUsage { get; private set; }

    /// <summary>
    /// Called with the fraction of a prompt prefilled (0..1), chunk by chunk, on a thread-pool thread (never the
    /// engine's, so a slow callback delays nobody); if it throws, the call fails with that error. Null for none.
    /// </summary>
    public Action<double>? PrefillProgress
    {
        get => _link.PrefillProgress;
        set => _link.PrefillProgress = value;
    }

    /// <summary>Saves the whole conversation (state, history, last logits) to a file, atomically.</summary>
    public void SaveSnapshot(string path)
    {
        using var _ = Acquire();
        StateSnapshot.Save(path, _link.State, CollectionsMarshal.AsSpan(_link.History), _link.HasLogits ? _link.Logits : default);
    }

    /// <summary>The same snapshot as bytes, for callers that store it themselves (the C library's state save).</summary>
    public byte[] SaveSnapshot()
    {
        using var _ = Acquire();
        return StateSnapshot.Serialize(_link.State, CollectionsMarshal.AsSpan(_link.History), _link.HasLogits ? _link.Logits : default);
    }

    /// <summary>Replaces this conversation with a saved one; generation then continues exactly as if it had never stopped.</summary>
    public void LoadSnapshot(string path)
    {
        using var _ = Acquire();
        Restore(StateSnapshot.Load(path, _link.State));
    }

    /// <summary>Replaces this conversation with one saved by <see cref="SaveSnapshot()"/>; <paramref name="source"/> names it in errors.</summary>
    public void LoadSnapshot(ReadOnlySpan<byte> snapshot, string source = "snapshot")
    {
        using var _ = Acquire();
        Restore(StateSnapshot.Deserialize(snapshot, source, _link.State));
    }

    void Restore(SnapshotExtras extras)
    {
        _link.History.Clear();
        _link.History.AddRange(extras.History);
        _link.HasLogits = extras.Logits is not null;
        if (extras.Logits is { } logits) logits.CopyTo(_link.Logits, 0);
        _link.Broken = false;
    }

    /// <summary>A new session that starts as an exact copy of this one: one prompt prefix, many continuations, no re-prefill.</summary>
    public GenerationSession Fork()
    {
        using var _ = Acquire();
        var fork = new GenerationSession(_generator);
        fork.Copy(this);
        return fork;
    }

    /// <summary>The same as <see cref="Fork()"/>, in the memory of <paramref name="block"/> (given back when the fork is disposed).</summary>
    public GenerationSession Fork(StateBlock block)
    {
        _generator.CheckBlock(block);
        using var _ = Acquire();
        var fork = new GenerationSession(_generator, block);
        fork.Copy(this);
        return fork;
    }

    /// <summary>
    /// Makes this session an exact copy of <paramref name="source"/> (state, history, logits), in its own memory: a
    /// finished continuation reused for the next one without a new allocation.
    /// </summary>
    public void CopyFrom(GenerationSession source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (ReferenceEquals(source, this)) return;
        using var _ = Acquire();
        using var __ = source.Acquire();
        Copy(source);
    }

    /// <summary>The copy itself; the caller holds whatever guards it needs.</summary>
    void Copy(GenerationSession source)
    {
        _link.State.CopyFrom(source._link.State);
        _link.History.Clear();
        _link.History.AddRange(source._link.History);
        source._link.Logits.CopyTo(_link.Logits, 0);
        _link.HasLogits = source._link.HasLogits;
        _link.Broken = source._link.Broken;
    }

    public void Reset()
    {
        using var _ = Acquire();
        _link.State.Reset();
        _link.History.Clear();
        _link.HasLogits = false;
        _link.Broken = false;
    }

    /// <summary>Feeds tokens without generating (a prompt, a chat turn). Throws <see cref="OperationCanceledException"/> if cancelled.</summary>
    public void Append(ReadOnlySpan<int> ids, CancellationToken cancellation = default)
    {
        if (ids.IsEmpty) return;
        AppendAsync(ids.ToArray(), cancellation).GetAwaiter().GetResult();
    }

    /// <summary>Feeds tokens without generating, without blocking a thread; afterwards the session holds their logits. Throws <see cref="OperationCanceledException"/> if cancelled.</summary>
    public async Task AppendAsync(int[] ids, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Length == 0) return;
        using var _ = Acquire();
        var usage = await _generator.Scheduler.Submit(_link, ids, AppendOnly, cancellation).Completion.ConfigureAwait(false);
        if (usage.StopReason == StopReason.Cancelled) throw new OperationCanceledException(cancellation);
    }

    static readonly SamplingParameters AppendOnly = new() { MaxTokens = 0 };

    /// <summary>Whether the session holds the logits after its last token (it can generate without new prompt tokens).</summary>
    public bool HasLogits => _link.HasLogits;
    internal bool IsBroken => _link.Broken;

    /// <summary>Encodes the text (with &lt;bos&gt; at the start of a conversation) and generates; see the ids overload.</summary>
    public IAsyncEnumerable<GeneratedToken> GenerateAsync(string prompt, SamplingParameters parameters, CancellationToken cancellation = default) =>
        GenerateAsync(_generator.RequireTokenizer().Encode(prompt, addBos: Position == 0), parameters, cancellation);

    /// <summary>
    /// Feeds the prompt ids, then samples up to MaxTokens tokens, stopping at &lt;eos&gt;, &lt;end_of_turn&gt; or a stop string
    /// (none of which is emitted or fed). Each item is a token and the text it completes; a last item with id
    /// <see cref="GeneratedToken.NoId"/> carries text held back to the end. <see cref="LastUsage"/> has the counts and speeds.
    /// Cancellation, or leaving the loop early, ends the request (no exception) and the usage says Cancelled; the session
    /// keeps every token the engine generated (its state includes them), which may be a few more than were yielded.
    /// Bad arguments, and a call while another runs on this session, throw here, before anything is enumerated.
    /// </summary>
    public IAsyncEnumerable<GeneratedToken> GenerateAsync(int[] promptIds, SamplingParameters parameters, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(promptIds);
        ArgumentNullException.ThrowIfNull(parameters);
        parameters.Validate();
        if (promptIds.Length > _generator.MaxPromptTokens)
            throw new RecurrentGemmaException($"the prompt has {promptIds.Length} tokens; the limit is {_generator.MaxPromptTokens}");
        if (Volatile.Read(ref _busy) != 0) throw Busy();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_link.Broken) throw new RecurrentGemmaException("this session's state was lost in an engine error; Reset() it to start over");
        return Run(promptIds, parameters, cancellation);
    }

    async IAsyncEnumerable<GeneratedToken> Run(int[] promptIds, SamplingParameters parameters, [EnumeratorCancellation] CancellationToken cancellation)
    {
        using var _ = Acquire();
        LastUsage = null;
        var handle = _generator.Scheduler.Submit(_link, promptIds, parameters, cancellation);
        bool ended = false;   // the stream ran to its end, not cancelled
        try
        {
            await foreach (var token in handle.Tokens().ConfigureAwait(false))
            {
                // The engine sees the cancellation at its next step and may have run ahead of this reader; stop yielding now.
                if (cancellation.IsCancellationRequested) break;
                yield return token;
            }
            ended = !cancellation.IsCancellationRequested;
        }
        finally
        {
            // Whether the caller cancelled, broke out of its loop or threw, the request ends here and the session is
            // consistent (and free) before this returns.
            if (!ended) handle.Cancel();
            try
            {
                var usage = await handle.Completion.ConfigureAwait(false);
                LastUsage = ended ? usage : usage with { StopReason = StopReason.Cancelled };
            }
            catch (Exception) when (!ended) { }   // the stream's own error, if any, is already on its way out
        }
    }

    /// <summary>The same stream as text pieces only (what a chat UI prints).</summary>
    public async IAsyncEnumerable<string> GenerateTextAsync(string prompt, SamplingParameters parameters,
        [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        await foreach (var token in GenerateAsync(prompt, parameters, cancellation).ConfigureAwait(false))
            if (!string.IsNullOrEmpty(token.Text)) yield return token.Text;
    }

    BusyScope Acquire()
    {
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) throw Busy();
        if (Volatile.Read(ref _disposed) != 0)
        {
            Volatile.Write(ref _busy, 0);
            throw new ObjectDisposedException(nameof(GenerationSession), "this session was disposed");
        }
        return new BusyScope(this);
    }

    static InvalidOperationException Busy() =>
        new("this session is already running a call; a session serves one call at a time (Fork() it, or use another session)");

    readonly struct BusyScope(GenerationSession session) : IDisposable
    {
        public void Dispose() => Volatile.Write(ref session._busy, 0);
    }
}
