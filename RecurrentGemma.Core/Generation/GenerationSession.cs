using System.Diagnostics;
using System.Runtime.CompilerServices;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.State;

namespace RecurrentGemma.Core.Generation;

/// <summary>
/// One conversation: its constant-size state, the token history (for penalties), and the last logits. Each call
/// continues where the previous one stopped, so a new chat turn only prefills its new tokens. Not thread-safe; many
/// sessions may share one <see cref="TextGenerator"/>.
/// </summary>
public sealed class GenerationSession
{
    /// <summary>Id of the final item <see cref="GenerateAsync(int[], SamplingParameters, CancellationToken)"/> yields when text was held back to the end.</summary>
    public const int NoToken = -1;

    readonly TextGenerator _generator;
    readonly ForwardPass _pass;
    readonly SequenceState _state;
    readonly List<int> _history = [];
    readonly float[] _logits;
    readonly int[] _one = new int[1];
    readonly BatchEntry[] _step;
    bool _hasLogits;

    internal GenerationSession(TextGenerator generator, int maxRowsPerPass)
    {
        _generator = generator;
        _pass = generator.Model.CreateForwardPass(maxRowsPerPass);
        _state = generator.Model.CreateState();
        _logits = new float[generator.Model.Config.VocabSize];
        _step = [new BatchEntry(_state, _one)];
    }

    public IReadOnlyList<int> History => _history;
    public int Position => _state.Position;
    public GenerationUsage? LastUsage { get; private set; }

    /// <summary>Saves the whole conversation (state, history, last logits) to a file, atomically.</summary>
    public void SaveSnapshot(string path) => StateSnapshot.Save(path, _state, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_history), _hasLogits ? _logits : default);

    /// <summary>Replaces this conversation with a saved one; generation then continues exactly as if it had never stopped.</summary>
    public void LoadSnapshot(string path)
    {
        var extras = StateSnapshot.Load(path, _state);
        _history.Clear();
        _history.AddRange(extras.History);
        _hasLogits = extras.Logits is not null;
        if (extras.Logits is { } logits) logits.CopyTo(_logits, 0);
    }

    /// <summary>A new session that starts as an exact copy of this one: one prompt prefix, many continuations, no re-prefill.</summary>
    public GenerationSession Fork()
    {
        var fork = new GenerationSession(_generator, _pass.MaxRowsPerPass);
        fork._state.CopyFrom(_state);
        fork._history.AddRange(_history);
        _logits.CopyTo(fork._logits, 0);
        fork._hasLogits = _hasLogits;
        return fork;
    }

    public void Reset()
    {
        _state.Reset();
        _history.Clear();
        _hasLogits = false;
    }

    /// <summary>Called with the fraction of a prompt prefilled (0..1), chunk by chunk; null for none.</summary>
    public Action<double>? PrefillProgress { get; set; }

    /// <summary>Feeds tokens without generating (a prompt, a chat turn), in chunks so cancellation is prompt.</summary>
    public void Append(ReadOnlySpan<int> ids, CancellationToken cancellation = default)
    {
        if (ids.IsEmpty) return;
        int vocab = _generator.Model.Config.VocabSize;
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)vocab) throw new RecurrentGemmaException($"token id {ids[i]} at index {i} is outside the vocabulary [0, {vocab})");
        var chunk = ids.ToArray();
        for (int start = 0; start < chunk.Length; start += _pass.MaxRowsPerPass)
        {
            cancellation.ThrowIfCancellationRequested();
            int n = Math.Min(_pass.MaxRowsPerPass, chunk.Length - start);
            _pass.Run([new BatchEntry(_state, chunk.AsMemory(start, n))], _logits);
            PrefillProgress?.Invoke((double)(start + n) / chunk.Length);
        }
        _history.AddRange(chunk);
        _hasLogits = true;
    }

    /// <summary>Encodes the text (with &lt;bos&gt; at the start of a conversation) and generates; see the ids overload.</summary>
    public IAsyncEnumerable<GeneratedToken> GenerateAsync(string prompt, SamplingParameters parameters, CancellationToken cancellation = default) =>
        GenerateAsync(_generator.RequireTokenizer().Encode(prompt, addBos: Position == 0), parameters, cancellation);

    /// <summary>
    /// Feeds the prompt ids, then samples up to MaxTokens tokens, stopping at &lt;eos&gt;, &lt;end_of_turn&gt; or a stop string
    /// (none of which is emitted or fed). Each item is a token and the text it completes; a last item with id
    /// <see cref="NoToken"/> carries text held back to the end. <see cref="LastUsage"/> has the counts and speeds.
    /// </summary>
    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(int[] promptIds, SamplingParameters parameters,
        [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        parameters.Validate();
        if (promptIds.Length > _generator.MaxPromptTokens)
            throw new RecurrentGemmaException($"the prompt has {promptIds.Length} tokens; the limit is {_generator.MaxPromptTokens}");
        if (promptIds.Length == 0 && !_hasLogits) throw new RecurrentGemmaException("the prompt is empty and there is nothing to continue from");
        await Task.Yield();

        var selector = new TokenSelector(parameters, _logits.Length, _generator.Model.Config.EosTokenId, _generator.Tokenizer);
        long t0 = Stopwatch.GetTimestamp();
        Append(promptIds, cancellation);
        double prefill = Stopwatch.GetElapsedTime(t0).TotalSeconds;

        t0 = Stopwatch.GetTimestamp();
        while (selector.Next(_logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_history), cancellation.IsCancellationRequested, out var token))
        {
            _one[0] = token.Id;
            _pass.Run(_step, _logits);
            _history.Add(token.Id);
            yield return token;
            if (selector.Stopped is not null) break;
        }
        double decode = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        LastUsage = new GenerationUsage(promptIds.Length, selector.Generated, prefill, decode, selector.Stopped ?? StopReason.MaxTokens);
        if (selector.FinalText() is { Length: > 0 } rest) yield return new GeneratedToken(NoToken, rest);
    }

    /// <summary>The same stream as text pieces only (what a chat UI prints).</summary>
    public async IAsyncEnumerable<string> GenerateTextAsync(string prompt, SamplingParameters parameters,
        [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        await foreach (var token in GenerateAsync(prompt, parameters, cancellation))
            if (!string.IsNullOrEmpty(token.Text)) yield return token.Text;
    }
}
