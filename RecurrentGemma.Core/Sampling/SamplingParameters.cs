namespace RecurrentGemma.Core.Sampling;

/// <summary>
/// How to pick each next token. Defaults are greedy. Applied in this order: repetition and presence penalties on the
/// logits of tokens already in the sequence, then temperature, top-k, top-p, min-p; temperature 0 means greedy
/// (argmax after the penalties). <see cref="Validate"/> refuses impossible values with a message naming the flag.
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
    /// <summary>Same seed, same parameters, same model: same tokens.</summary>
    public ulong Seed { get; init; }
    public int MaxTokens { get; init; } = 256;
    /// <summary>Generation stops when the text ends with one of these (the stop string is not emitted).</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    public static SamplingParameters Greedy { get; } = new();

    public SamplingParameters Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw Bad("--temperature", Temperature, "must be 0 (greedy) or a positive number");
        if (TopK < 0) throw Bad("--top-k", TopK, "must be 0 (off) or positive");
        if (!(TopP > 0 && TopP <= 1)) throw Bad("--top-p", TopP, "must be in (0, 1]");
        if (!(MinP >= 0 && MinP < 1)) throw Bad("--min-p", MinP, "must be in [0, 1)");
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty)) throw Bad("--repeat-penalty", RepetitionPenalty, "must be a positive number (1 = off)");
        if (!float.IsFinite(PresencePenalty)) throw Bad("--presence-penalty", PresencePenalty, "must be a finite number (0 = off)");
        if (MaxTokens < 0) throw Bad("--max-tokens", MaxTokens, "must be 0 or more");
        foreach (var s in StopStrings)
            if (string.IsNullOrEmpty(s)) throw new SamplingParameterException("--stop", "a stop string must not be empty");
        return this;
    }

    static SamplingParameterException Bad(string flag, object value, string rule) => new(flag, $"{value} {rule}");
}

/// <summary>
/// A sampling parameter is out of range. The message names the command-line flag (--top-p); <see cref="Field"/> is the
/// same parameter's name in --batch-file JSON and in the C library's rg_sampling_params (top_p).
/// </summary>
public sealed class SamplingParameterException(string flag, string problem) : RecurrentGemmaException($"{flag}: {problem}")
{
    public string Flag { get; } = flag;
    public string Field { get; } = flag.TrimStart('-').Replace('-', '_');
    /// <summary>The value and the rule it breaks, e.g. "2 must be in (0, 1]".</summary>
    public string Problem { get; } = problem;
}
