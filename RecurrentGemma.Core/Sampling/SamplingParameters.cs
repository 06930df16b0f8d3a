namespace RecurrentGemma.Core.Sampling;

/// <summary>
/// How to pick each next token. Defaults are greedy. Applied in this order: repetition, presence and frequency penalties on the
/// logits of tokens already in the sequence, then temperature, top-k, top-p, min-p; temperature 0 means greedy
/// (argmax after the penalties). <see cref="Validate"/> refuses impossible values with a message naming the property.
/// </summary>
public sealed record SamplingParameters
{
    /// <summary>0 = greedy; otherwise logits are divided by it.</summary>
    public float Temperature { get; init; }
    /// <summary>Keep the k most likely tokens; 0 = off.</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set of most likely tokens whose probability reaches p; 1 = off.</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>Drop tokens less likely than min_p times the most likely one; 0 = off.</summary>
    public float MinP { get; init; }
    /// <summary>CTRL-style: a positive logit of a seen token is divided by it, a negative one multiplied; 1 = off.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>Subtracted once from the logit of every token already seen; 0 = off.</summary>
    public float PresencePenalty { get; init; }
    /// <summary>Subtracted from a seen token's logit once per occurrence (OpenAI's frequency_penalty); 0 = off.</summary>
    public float FrequencyPenalty { get; init; }
    /// <summary>Report the log-probability of each generated token under the model (before penalties and cuts).</summary>
    public bool Logprobs { get; init; }
    /// <summary>With <see cref="Logprobs"/>: also the most likely alternatives at each position, 0 to <see cref="MaxTopLogprobs"/>.</summary>
    public int TopLogprobs { get; init; }
    /// <summary>Same seed, same parameters, same model: same tokens.</summary>
    public ulong Seed { get; init; }
    public int MaxTokens { get; init; } = 256;
    /// <summary>Generation stops when the text ends with one of these (the stop string is not emitted).</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    public const int MaxTopLogprobs = 64;

    public static SamplingParameters Greedy { get; } = new();

    /// <summary>
    /// What a person chatting enjoys (llama.cpp's defaults): temperature 0.8, top-k 40, top-p 0.95, a mild repetition
    /// penalty of 1.1, up to 512 tokens. The CLI's text commands and the IChatClient start from these; the library's
    /// own default (<c>new SamplingParameters()</c>) stays greedy.
    /// </summary>
    public static SamplingParameters Chat { get; } = new() { Temperature = 0.8f, TopK = 40, TopP = 0.95f, RepetitionPenalty = 1.1f, MaxTokens = 512 };

    public SamplingParameters Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw Bad(nameof(Temperature), Temperature, "must be 0 (greedy) or a positive number");
        if (TopK < 0) throw Bad(nameof(TopK), TopK, "must be 0 (off) or positive");
        if (!(TopP > 0 && TopP <= 1)) throw Bad(nameof(TopP), TopP, "must be in (0, 1]");
        if (!(MinP >= 0 && MinP < 1)) throw Bad(nameof(MinP), MinP, "must be in [0, 1)");
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty)) throw Bad(nameof(RepetitionPenalty), RepetitionPenalty, "must be a positive number (1 = off)");
        if (!float.IsFinite(PresencePenalty)) throw Bad(nameof(PresencePenalty), PresencePenalty, "must be a finite number (0 = off)");
        if (!float.IsFinite(FrequencyPenalty)) throw Bad(nameof(FrequencyPenalty), FrequencyPenalty, "must be a finite number (0 = off)");
        if (TopLogprobs is < 0 or > MaxTopLogprobs) throw Bad(nameof(TopLogprobs), TopLogprobs, $"must be in [0, {MaxTopLogprobs}]");
        if (MaxTokens < 0) throw Bad(nameof(MaxTokens), MaxTokens, "must be 0 or more");
        if (StopStrings is null) throw new SamplingParameterException(nameof(StopStrings), "must not be null (empty for none)");
        foreach (var s in StopStrings)
            if (string.IsNullOrEmpty(s)) throw new SamplingParameterException(nameof(StopStrings), "a stop string must not be empty");
        return this;
    }

    static SamplingParameterException Bad(string parameter, object value, string rule) => new(parameter, $"{value} {rule}");
}

/// <summary>
/// A sampling parameter is out of range. <see cref="Parameter"/> is the <see cref="SamplingParameters"/> property
/// (TopP); each front end names it in its own spelling (the CLI's --top-p, a JSON field top_p, a C struct field).
/// </summary>
public sealed class SamplingParameterException(string parameter, string problem) : RecurrentGemmaException($"{parameter}: {problem}")
{
    public string Parameter { get; } = parameter;
    /// <summary>The value and the rule it breaks, e.g. "2 must be in (0, 1]".</summary>
    public string Problem { get; } = problem;
}
