using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.Tokenizer;

namespace RecurrentGemma.Core.Serving;

/// <summary>
/// The per-request part of generation, shared by <see cref="GenerationSession"/> and the batching scheduler: sample the
/// next token from the logits, turn it into text (streaming, stop strings held back), and decide when to stop
/// (max tokens, &lt;eos&gt;, &lt;end_of_turn&gt;, a stop string, cancellation). Neither the stop token nor the stop string is emitted.
/// </summary>
internal sealed class TokenSelector
{
    readonly SamplingParameters _parameters;
    readonly Sampler _sampler;
    readonly StreamingDetokenizer? _text;
    readonly StopStringMatcher _stops;
    readonly int _eos, _endOfTurn;
    readonly LogprobReader? _logprobs;

    public int Generated { get; private set; }
    public StopReason? Stopped { get; private set; }

    public TokenSelector(SamplingParameters parameters, int vocabularySize, int eosId, GemmaTokenizer? tokenizer)
    {
        parameters.Validate();
        if (parameters.StopStrings.Count > 0 && tokenizer is null) throw new RecurrentGemmaException("stop strings need a tokenizer");
        _parameters = parameters;
        _sampler = new Sampler(parameters, vocabularySize);
        _text = tokenizer?.CreateStreamingDecoder();
        _stops = new StopStringMatcher(parameters.StopStrings);
        _eos = eosId;
        _endOfTurn = tokenizer?.EndOfTurnId ?? -1;
        if (parameters.Logprobs) _logprobs = new LogprobReader(vocabularySize, parameters.TopLogprobs);
        if (parameters.MaxTokens == 0) Stopped = StopReason.MaxTokens;
    }

    /// <summary>
    /// Picks the next token. Returns false when generation ends here without a token (&lt;eos&gt;, &lt;end_of_turn&gt;,
    /// cancellation); otherwise the token to emit and feed, after which <see cref="Stopped"/> may be set (max tokens, stop string).
    /// </summary>
    public bool Next(Span<float> logits, ReadOnlySpan<int> history, bool cancelled, out GeneratedToken token)
    {
        token = default;
        if (Stopped is not null) return false;
        if (cancelled) { Stopped = StopReason.Cancelled; return false; }
        _logprobs?.Capture(logits);   // the sampler works in place on the logits
        int id = _sampler.Sample(logits, history);
        if (id == _eos) { Stopped = StopReason.EndOfSequence; return false; }
        if (id == _endOfTurn) { Stopped = StopReason.EndOfTurn; return false; }
        token = new GeneratedToken(id, _text is null ? null : _stops.Push(_text.Append(id))) { Logprobs = _logprobs?.For(id) };
        Generated++;
        if (_stops.Stopped) Stopped = StopReason.StopString;
        else if (Generated >= _parameters.MaxTokens) Stopped = StopReason.MaxTokens;
        return true;
    }

    /// <summary>Text held back until the end (an incomplete character, a partial stop string that never completed).</summary>
    public string? FinalText() => _text is null ? null : _stops.Push(_text.Flush()) + _stops.Flush();
}
