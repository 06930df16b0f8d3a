using System.CommandLine;
using System.Globalization;
using System.Text;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Model;

namespace RecurrentGemma.Cli.Commands;

/// <summary>rgemma perplexity (like llama-perplexity): mean NLL per token and perplexity of a text file.</summary>
public static class PerplexityCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr, ProgressBar progress)
    {
        var model = new ModelOptions(demoDefault: true);
        var file = new Option<string>("--file") { Description = "UTF-8 text file to score", Required = true };
        var maxTokens = new Option<int>("--max-tokens") { Description = "score at most this many tokens (0 = all)", DefaultValueFactory = _ => 0 };
        var chunk = new Option<int>("--chunk") { Description = "tokens per forward pass (the result does not depend on it)", DefaultValueFactory = _ => 64 };
        var json = new Option<bool>("--json") { Description = "print {\"mean_nll\", \"perplexity\", \"tokens\"} (and \"mean_kl\", \"top1_agreement\" with --compare-weights)" };
        var compare = new Option<string?>("--compare-weights")
        {
            Description = "also load the model in this format (bf16, q8 or q4) as the reference and report the mean KL divergence of the next-token distributions and the top-1 agreement",
        };
        var command = new Command("perplexity", "Score a text: <bos> + its tokens, mean negative log-likelihood per token and perplexity") { file, maxTokens, chunk, json, compare };
        model.AddTo(command, withTokenizer: true);
        command.SetAction((parse, cancellation) =>
        {
            string path = parse.GetValue(file)!;
            int limit = CountRange.Tokens.Check("--max-tokens", parse.GetValue(maxTokens));
            int chunkSize = CountRange.Chunk.Check("--chunk", parse.GetValue(chunk));
            if (!File.Exists(path)) throw new UsageException($"--file: {path} does not exist");
            WeightFormat? referenceFormat = ModelOptions.ParseWeights("--compare-weights", parse.GetValue(compare));
            string text;
            try { text = File.ReadAllText(path, new UTF8Encoding(false, throwOnInvalidBytes: true)); }
            catch (DecoderFallbackException) { throw new UsageException($"--file: {path} is not valid UTF-8"); }
            using var generator = model.OpenGenerator(parse, stderr, progress);
            var tokenizer = generator.RequireTokenizer();
            int[] ids = tokenizer.Encode(text, addBos: true);
            if (limit > 0 && ids.Length > limit + 1) ids = ids[..(limit + 1)];
            var r = Perplexity.Evaluate(generator.Model, ids, chunkSize, cancellation);
            DistributionComparisonResult? c = null;
            if (referenceFormat is { } referenceWeights)
            {
                using var reference = RecurrentGemmaModel.Open(model.Spec(parse, null), model.LoadOptions(parse) with { Weights = referenceWeights });
                c = DistributionComparison.Evaluate(reference, generator.Model, ids.AsSpan(0, ids.Length - 1), chunkSize, cancellation);
            }
            var inv = CultureInfo.InvariantCulture;
            if (parse.GetValue(json))
            {
                JsonOutput.WriteLine(stdout, w =>
                {
                    w.WriteStartObject();
                    w.WriteNumber("mean_nll", r.MeanNll);
                    w.WriteNumber("perplexity", r.Perplexity);
                    w.WriteNumber("tokens", r.Tokens);
                    if (c is not null)
                    {
                        w.WriteNumber("mean_kl", c.MeanKl);
                        w.WriteNumber("top1_agreement", c.Top1Agreement);
                    }
                    w.WriteEndObject();
                });
            }
            else
            {
                stdout.WriteLine($"tokens       {r.Tokens} scored (after <bos>)");
                stdout.WriteLine($"mean NLL     {r.MeanNll.ToString("F6", inv)} nats/token");
                stdout.WriteLine($"perplexity   {r.Perplexity.ToString("F4", inv)}");
                if (c is not null)
                {
                    stdout.WriteLine($"mean KL      {c.MeanKl.ToString("G4", inv)} nats/position against {parse.GetValue(compare)} ({c.Positions} positions)");
                    stdout.WriteLine($"top-1        {c.Top1Agreement.ToString("P2", inv)} agreement");
                }
            }
            return Task.FromResult(0);
        });
        return command;
    }
}
