using System.CommandLine;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Model;

namespace RecurrentGemma.Cli.Commands;

/// <summary>The --model, --tokenizer and --threads options every model command shares, and opening what they name.</summary>
public sealed class ModelOptions
{
    public Option<string?> Model { get; }

    public Option<string?> Tokenizer { get; } = new("--tokenizer")
    {
        Description = "tokenizer.model (default: the one in the model directory)",
    };

    public Option<int> Threads { get; } = new("--threads")
    {
        Description = "threads for the matmuls, 0 to 1024 (default 0: one per processor)",
        DefaultValueFactory = _ => 0,
    };

    public Option<string?> Weights { get; } = new("--weights")
    {
        Description = "weight format: bf16 (the checkpoint's precision), q8 (8.5 bits a weight) or q4 (4.5 bits); "
            + "a checkpoint is quantized at load, a packed folder from 'rgemma convert' loads as it was written (default: as stored)",
    };

    readonly bool _demoDefault;

    /// <param name="demoDefault">Whether a missing --model means the built-in demo model (text commands) or is an error.</param>
    public ModelOptions(bool demoDefault)
    {
        _demoDefault = demoDefault;
        Model = new Option<string?>("--model")
        {
            Description = "Hugging Face checkpoint directory (config.json + *.safetensors), or random:2b | random:9b | random:<config.json> for synthetic weights"
                + (demoDefault ? " (default: the built-in demo model)" : ""),
            Required = !demoDefault,
        };
    }

    public void AddTo(Command command, bool withTokenizer = false)
    {
        command.Options.Add(Model);
        if (withTokenizer) command.Options.Add(Tokenizer);
        command.Options.Add(Threads);
        command.Options.Add(Weights);
    }

    /// <summary>--weights, or null where not given (the source's own format).</summary>
    public WeightFormat? WeightFormatOf(ParseResult parse) => ParseWeights("--weights", parse.GetValue(Weights));

    /// <summary>A weight-format flag's value (null when absent); anything else is a usage error naming the flag.</summary>
    public static WeightFormat? ParseWeights(string flag, string? text) => text switch
    {
        null => null,
        _ when WeightFormats.TryParse(text, out var format) => format,
        _ => throw new UsageException($"{flag}: '{text}' is not a weight format; expected {WeightFormats.Accepted}"),
    };

    public ModelLoadOptions LoadOptions(ParseResult parse, Action<double>? progress = null) =>
        new() { Threads = ThreadCount(parse), Weights = WeightFormatOf(parse), Progress = progress };

    public int ThreadCount(ParseResult parse)
    {
        return CountRange.Threads.Check("--threads", parse.GetValue(Threads));
    }

    /// <summary>The --model value, or the demo model's folder (with a note on stderr) where that is the default.</summary>
    public string Spec(ParseResult parse, TextWriter? stderr)
    {
        if (parse.GetValue(Model) is { } spec) return spec;
        if (!_demoDefault) throw new UsageException("--model is required");
        stderr?.WriteLine("rgemma: no --model given: using the built-in demo model (griffin-shakespeare, a 5M-parameter toy trained on Shakespeare). "
            + "For a real model: --model <directory with config.json, model*.safetensors and tokenizer.model>");
        return DemoModel.Directory;
    }

    public RecurrentGemmaModel Open(ParseResult parse) => RecurrentGemmaModel.Open(Spec(parse, null), LoadOptions(parse));

    public TextGenerator OpenGenerator(ParseResult parse, TextWriter stderr, ProgressBar progress) =>
        TextGenerator.Open(Spec(parse, stderr), LoadOptions(parse, progress.For("loading")), parse.GetValue(Tokenizer));
}
