using System.CommandLine;
using RecurrentGemma.Core.Sampling;

namespace RecurrentGemma.Cli.Commands;

/// <summary>The sampling flags (llama.cpp's names) and the validated <see cref="SamplingParameters"/> they make.</summary>
public sealed class SamplingOptions
{
    readonly Option<int> _maxTokens = new("--max-tokens") { Description = "tokens to generate at most", DefaultValueFactory = _ => 256 };
    readonly Option<float> _temperature = new("--temperature") { Description = "0 = greedy (default); higher = more random", DefaultValueFactory = _ => 0f };
    readonly Option<int> _topK = new("--top-k") { Description = "sample from the k most likely tokens (0 = off)", DefaultValueFactory = _ => 0 };
    readonly Option<float> _topP = new("--top-p") { Description = "sample from the smallest set holding this probability, in (0, 1] (1 = off)", DefaultValueFactory = _ => 1f };
    readonly Option<float> _minP = new("--min-p") { Description = "drop tokens below min-p x the top probability, in [0, 1) (0 = off)", DefaultValueFactory = _ => 0f };
    readonly Option<float> _repeatPenalty = new("--repeat-penalty") { Description = "penalty for tokens already in the text (1 = off)", DefaultValueFactory = _ => 1f };
    readonly Option<float> _presencePenalty = new("--presence-penalty") { Description = "subtracted from the logits of tokens already in the text (0 = off)", DefaultValueFactory = _ => 0f };
    readonly Option<ulong> _seed = new("--seed") { Description = "random seed: same seed, same output", DefaultValueFactory = _ => 0UL };
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
        try
        {
            return new SamplingParameters
            {
                MaxTokens = parse.GetValue(_maxTokens),
                Temperature = parse.GetValue(_temperature),
                TopK = parse.GetValue(_topK),
                TopP = parse.GetValue(_topP),
                MinP = parse.GetValue(_minP),
                RepetitionPenalty = parse.GetValue(_repeatPenalty),
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
