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
/// together, each getting exactly what it would get alone. One session is not thread-safe; many may share a generator.
/// </summary>
public sealed class GenerationSession
{
    /// <summary>Id of the final item <see cref="GenerateAsync(int[], SamplingParameters, CancellationToken)"/> yields when text was held back to the end.</summary>
    public const int NoToken = -1;

    readonly TextGenerator _generator;
    readonly BatchScheduler.SessionLink _link;

    internal GenerationSession(TextGenerator generator)
    {
        _generator = generator;
        _link = new BatchScheduler.SessionLink(generator.Model.CreateState(), [], new float[generator.Model.Config.VocabSize]);
    }

    public IReadOnlyList<int> History => _link.History;
    public int Position => _link.State.Position;
    public GenerationUsage? LastUsage { get; private set; }

    /// <summary>Called with the fraction of a prompt prefilled (0..1), chunk by chunk, from the engine thread; null for none.</summary>
    public Action<double>? PrefillProgress
    {
        get => _link.PrefillProgress;
        set => _link.PrefillProgress = value;
    }

    /// <summary>Saves the whole conversation (state, history, last logits) to a file, atomically.</summary>
    public void SaveSnapshot(string path) =>
        StateSnapshot.Save(path, _link.State, CollectionsMarshal.AsSpan(_link.History), _link.HasLogits ? _link.Logits : default);

    /// <summary>The same snapshot as bytes, for callers that store it themselves (the C library's state save).</summary>
    public byte[] SaveSnapshot() =>
        StateSnapshot.Serialize(_link.State, CollectionsMarshal.AsSpan(_link.History), _link.HasLogits ? _link.Logits : default);

    /// <summary>Replaces this conversation with a saved one; generation then continues exactly as if it had never stopped.</summary>
    public void LoadSnapshot(string path) => Restore(StateSnapshot.Load(path, _link.State));

    /// <summary>Replaces this conversation with one saved by <see cref="SaveSnapshot()"/>; <paramref name="source"/> names it in errors.</summary>
    public void LoadSnapshot(ReadOnlySpan<byte> snapshot, string source = "snapshot") => Restore(StateSnapshot.Deserialize(snapshot, source, _link.State));

    void Restore(SnapshotExtras extras)
    {
        _link.History.Clear();
        _link.History.AddRange(extras.History);
        _link.HasLogits = extras.Logits is not null;
        if (extras.Logits is { } logits) logits.CopyTo(_link.Logits, 0);
    }

    /// <summary>A new session that starts as an exact copy of this one: one prompt prefix, many continuations, no re-prefill.</summary>
    public GenerationSession Fork()
    {
        var fork = new GenerationSession(_generator);
        fork._link.State.CopyFrom(_link.State);
        fork._link.History.AddRange(_link.History);
        _link.Logits.CopyTo(fork._link.Logits, 0);
        fork._link.HasLogits = _link.HasLogits;
        return fork;
    }

    public void Reset()
    {
        _link.State.Reset();
        _link.History.Clear();
        _link.HasLogits = false;
    }

    /// <summary>Feeds tokens without generating (a prompt, a chat turn). Throws <see cref="OperationCanceledException"/> if cancelled.</summary>
    public void Append(ReadOnlySpan<int> ids, CancellationToken cancellation = default)
    {
        if (ids.IsEmpty) return;
        var usage = _generator.Scheduler.Submit(_link, ids.ToArray(), new SamplingParameters { MaxTokens = 0 }, cancellation).Completion.GetAwaiter().GetResult();
        if (usage.StopReason == StopReason.Cancelled) throw new OperationCanceledException(cancellation);
    }

    /// <summary>Encodes the text (with &lt;bos&gt; at the start of a conversation) and generates; see the ids overload.</summary>
    public IAsyncEnumerable<GeneratedToken> GenerateAsync(string prompt, SamplingParameters parameters, CancellationToken cancellation = default) =>
        GenerateAsync(_generator.RequireTokenizer().Encode(prompt, addBos: Position == 0), parameters, cancellation);

    /// <summary>
    /// Feeds the prompt ids, then samples up to MaxTokens tokens, stopping at &lt;eos&gt;, &lt;end_of_turn&gt; or a stop string
    /// (none of which is emitted or fed). Each item is a token and the text it completes; a last item with id
    /// <see cref="NoToken"/> carries text held back to the end. <see cref="LastUsage"/> has the counts and speeds.
    /// Cancellation ends the stream (no exception) and the usage says Cancelled; the session keeps every token the
    /// engine generated (its state includes them), which may be a few more than were yielded.
    /// </summary>
    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(int[] promptIds, SamplingParameters parameters,
        [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        parameters.Validate();
        if (promptIds.Length > _generator.MaxPromptTokens)
            throw new RecurrentGemmaException($"the prompt has {promptIds.Length} tokens; the limit is {_generator.MaxPromptTokens}");
        var handle = _generator.Scheduler.Submit(_link, promptIds, parameters, cancellation);
        bool cancelled = false;
        await foreach (var token in handle.Tokens())
        {
            // The engine sees the cancellation at its next step and may have run ahead of this reader; stop yielding now.
            if (cancelled = cancellation.IsCancellationRequested) break;
            yield return token;
        }
        var usage = await handle.Completion;
        LastUsage = cancelled ? usage with { StopReason = StopReason.Cancelled } : usage;
    }

    /// <summary>The same stream as text pieces only (what a chat UI prints).</summary>
    public async IAsyncEnumerable<string> GenerateTextAsync(string prompt, SamplingParameters parameters,
        [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        await foreach (var token in GenerateAsync(prompt, parameters, cancellation))
            if (!string.IsNullOrEmpty(token.Text)) yield return token.Text;
    }
}
