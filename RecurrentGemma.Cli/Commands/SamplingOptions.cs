using System.CommandLine;
using RecurrentGemma.Core.Sampling;

namespace RecurrentGemma.Cli.Commands;

/// <summary>
/// The sampling flags (llama.cpp's names) and the validated <see cref="SamplingParameters"/> they make. The defaults are
/// <see cref="SamplingParameters.Chat"/> with a fixed seed (varied text that is the same on every run, as llama.cpp samples
/// by default); <c>--temperature 0</c> is exactly greedy, the default repetition penalty dropped too.
/// </summary>
public sealed class SamplingOptions
{
    static readonly SamplingParameters Defaults = SamplingParameters.Chat;

    readonly Option<int> _maxTokens = new("--max-tokens") { Description = "tokens to generate at most (default 256)", DefaultValueFactory = _ => 256 };
    readonly Option<float> _temperature = new("--temperature") { Description = $"higher = more random; 0 = greedy, exactly (default {Defaults.Temperature})", DefaultValueFactory = _ => Defaults.Temperature };
    readonly Option<int> _topK = new("--top-k") { Description = $"sample from the k most likely tokens, 0 = off (default {Defaults.TopK})", DefaultValueFactory = _ => Defaults.TopK };
    readonly Option<float> _topP = new("--top-p") { Description = $"sample from the smallest set holding this probability, in (0, 1], 1 = off (default {Defaults.TopP})", DefaultValueFactory = _ => Defaults.TopP };
    readonly Option<float> _minP = new("--min-p") { Description = "drop tokens below min-p x the top probability, in [0, 1) (0 = off)", DefaultValueFactory = _ => 0f };
    readonly Option<float> _repeatPenalty = new("--repeat-penalty") { Description = $"penalty for tokens already in the text, 1 = off (default {Defaults.RepetitionPenalty}; off with --temperature 0 unless given)", DefaultValueFactory = _ => Defaults.RepetitionPenalty };
    readonly Option<float> _presencePenalty = new("--presence-penalty") { Description = "subtracted from the logits of tokens already in the text (0 = off)", DefaultValueFactory = _ => 0f };
    readonly Option<ulong> _seed = new("--seed") { Description = "random seed: same seed, same output (default 0)", DefaultValueFactory = _ => 0UL };
    readonly Option<string[]> _stop = new("--stop") { Description = "stop when the text ends with this string (repeatable)", AllowMultipleArgumentsPerToken = false };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _maxTokens, _temperature, _topK, _topP, _minP, _repeatPenalty, _presencePenalty, _seed, _stop })
            command.Options.Add(option);
    }

    public SamplingParameters Create(ParseResult parse)
    {
        CountRange.Tokens.Check("--max-tokens", parse.GetValue(_maxTokens));
        CountRange.TopK.Check("--top-k", parse.GetValue(_topK));
        float temperature = parse.GetValue(_temperature);
        bool greedy = temperature == 0 && parse.GetResult(_repeatPenalty) is not { Implicit: false };
        try
        {
            return new SamplingParameters
            {
                MaxTokens = parse.GetValue(_maxTokens),
                Temperature = temperature,
                TopK = parse.GetValue(_topK),
                TopP = parse.GetValue(_topP),
                MinP = parse.GetValue(_minP),
                RepetitionPenalty = greedy ? 1f : parse.GetValue(_repeatPenalty),
                PresencePenalty = parse.GetValue(_presencePenalty),
                Seed = parse.GetValue(_seed),
                StopStrings = parse.GetValue(_stop) ?? [],
            }.Validate();
        }
        catch (SamplingParameterException e)
        {
            throw new UsageException($"{Flag(e.Parameter)}: {e.Problem}");
        }
    }

    /// <summary>The flag of a <see cref="SamplingParameters"/> property.</summary>
    static string Flag(string parameter) => parameter switch
    {
        nameof(SamplingParameters.MaxTokens) => "--max-tokens",
        nameof(SamplingParameters.Temperature) => "--temperature",
        nameof(SamplingParameters.TopK) => "--top-k",
        nameof(SamplingParameters.TopP) => "--top-p",
        nameof(SamplingParameters.MinP) => "--min-p",
        nameof(SamplingParameters.RepetitionPenalty) => "--repeat-penalty",
        nameof(SamplingParameters.PresencePenalty) => "--presence-penalty",
        nameof(SamplingParameters.Seed) => "--seed",
        nameof(SamplingParameters.StopStrings) => "--stop",
        _ => parameter,
    };
}
