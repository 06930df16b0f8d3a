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
    }

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

    public RecurrentGemmaModel Open(ParseResult parse) => RecurrentGemmaModel.Open(Spec(parse, null), ThreadCount(parse));

    public TextGenerator OpenGenerator(ParseResult parse, TextWriter stderr, ProgressBar progress) =>
        TextGenerator.Open(Spec(parse, stderr), parse.GetValue(Tokenizer), ThreadCount(parse), progress.For("loading"));
}
