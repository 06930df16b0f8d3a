using System.CommandLine;
using System.Diagnostics;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.Packed;

namespace RecurrentGemma.Cli.Commands;

/// <summary>rgemma convert: a Hugging Face checkpoint to a packed folder in one weight format, loaded in place later.</summary>
public static class ConvertCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr, ProgressBar progress)
    {
        var model = new ModelOptions(demoDefault: false);
        var output = new Option<string>("--out") { Description = "the packed model folder to create (must not exist)", Required = true };
        var command = new Command("convert", "Convert a Hugging Face checkpoint into a packed model folder (--weights bf16|q8|q4) that loads in place, memory-mapped") { output };
        model.AddTo(command);
        command.SetAction(parse =>
        {
            string source = model.Spec(parse, stderr);
            if (source.StartsWith(RecurrentGemmaModel.SyntheticPrefix, StringComparison.Ordinal))
                throw new UsageException("--model: convert reads a checkpoint directory (synthetic random: models have no files to convert)");
            long t0 = Stopwatch.GetTimestamp();
            var info = PackedModel.Convert(source, parse.GetValue(output)!, model.LoadOptions(parse, progress.For("converting")));
            stdout.WriteLine($"wrote {info.Directory}: {info.Weights.Name()}, {info.Tensors} tensors, {info.FileBytes / 1e6:F1} MB in {Stopwatch.GetElapsedTime(t0).TotalSeconds:F1} s");
            return 0;
        });
        return command;
    }
}
