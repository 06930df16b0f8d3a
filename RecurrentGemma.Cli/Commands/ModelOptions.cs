using System.CommandLine;
using RecurrentGemma.Core.Model;

namespace RecurrentGemma.Cli.Commands;

/// <summary>The --model and --threads options every model command shares, and opening the model they name.</summary>
public sealed class ModelOptions
{
    public Option<string> Model { get; } = new("--model")
    {
        Description = "Hugging Face checkpoint directory (config.json + *.safetensors), or random:2b | random:9b | random:<config.json> for synthetic weights",
        Required = true,
    };

    public Option<int> Threads { get; } = new("--threads")
    {
        Description = "threads for the matmuls (default: one per processor)",
        DefaultValueFactory = _ => 0,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Model);
        command.Options.Add(Threads);
    }

    public RecurrentGemmaModel Open(ParseResult parse)
    {
        int threads = parse.GetValue(Threads);
        if (threads < 0) throw new UsageException($"--threads: {threads} must be positive (or 0 for one per processor)");
        return RecurrentGemmaModel.Open(parse.GetValue(Model)!, threads);
    }
}
