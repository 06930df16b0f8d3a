using System.CommandLine;
using RecurrentGemma.Benchmarking;

namespace RecurrentGemma.Cli.Commands;

/// <summary>
/// rgemma bench (like llama-bench): prefill and decode speed of one sequence, each next to its roofline — the fraction
/// of this machine's measured FMA peak (prefill) or memory bandwidth (decode) it reaches.
/// </summary>
public static class BenchCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new ModelOptions(demoDefault: false);
        var prompt = new Option<int>("--prompt") { Description = "prompt tokens to prefill (random ids)", DefaultValueFactory = _ => 512 };
        var gen = new Option<int>("--gen") { Description = "tokens to decode greedily after the prompt", DefaultValueFactory = _ => 128 };
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of the table" };
        var batch = new Option<string?>("--batch") { Description = "batch sizes for aggregate decode throughput, comma-separated (e.g. 1,4,16,64,256)" };
        var plot = new Option<string?>("--plot") { Description = "with --batch: write PREFIX-throughput.svg and PREFIX-memory.svg (with --depths: PREFIX-depths.svg)" };
        var depths = new Option<string?>("--depths")
        {
            Description = "with --batch: throughput as sequences grow — at each of these generated-token counts (e.g. 128,512,8192), fork one sequence to every batch size and time --gen decode steps",
        };
        var command = new Command("bench", "Measure prefill and decode throughput against this machine's bandwidth and FMA rooflines") { prompt, gen, json, batch, plot, depths };
        model.AddTo(command);
        command.SetAction(parse =>
        {
            int promptTokens = CountRange.PositiveTokens.Check("--prompt", parse.GetValue(prompt));
            int genTokens = CountRange.PositiveTokens.Check("--gen", parse.GetValue(gen));
            bool asJson = parse.GetValue(json);
            if (parse.GetValue(batch) is { } batchList)
            {
                int[] sizes = TokenIdList.Parse(batchList, "--batch");
                foreach (int size in sizes) CountRange.BatchSize.Check("--batch", size);
                using var batchModel = model.Open(parse);
                if (parse.GetValue(depths) is { } depthList)
                {
                    int[] lengths = TokenIdList.Parse(depthList, "--depths");
                    foreach (int length in lengths) CountRange.PositiveTokens.Check("--depths", length);
                    for (int i = 1; i < lengths.Length; i++)
                        if (lengths[i] <= lengths[i - 1]) throw new UsageException("--depths: counts must be increasing");
                    BatchBench.RunAtDepths(batchModel, sizes, promptTokens, lengths, genTokens, asJson, parse.GetValue(plot), stdout, stderr);
                    return 0;
                }
                BatchBench.Run(batchModel, sizes, promptTokens, genTokens, asJson, parse.GetValue(plot), stdout, stderr);
                return 0;
            }
            if (parse.GetValue(plot) is not null) throw new UsageException("--plot needs --batch");
            if (parse.GetValue(depths) is not null) throw new UsageException("--depths needs --batch");
            using var loaded = model.Open(parse);
            var result = GenerationBenchmark.Run(loaded, promptTokens, genTokens, asJson ? null : m => stderr.WriteLine($"rgemma bench: {m}"));
            if (asJson) WriteJson(result, stdout);
            else WriteTable(result, stdout);
            return 0;
        });
        return command;
    }

    static void WriteJson(GenerationBenchmarkResult r, TextWriter stdout) => JsonOutput.WriteLine(stdout, r.WriteJson);

    static void WriteTable(GenerationBenchmarkResult r, TextWriter o)
    {
        o.WriteLine($"model {r.Model}, {r.Threads} threads, {r.Simd}");
        o.WriteLine($"machine      read bandwidth {r.BandwidthGBs:F1} GB/s, FMA peak {r.FmaGflops:F0} GFLOP/s (f32), int8 dot peak {r.Int8Gops:F0} GOP/s ({r.Int8Path})");
        o.WriteLine($"weights      {r.Weights}: {r.WeightBytes / 1e9:F2} GB; prefill is measured against the {(r.Weights == "bf16" ? "FMA" : "int8 dot")} peak");
        o.WriteLine($"prefill      {r.PromptTokens,6} tokens  {r.PrefillTokensPerSecond,8:F2} tok/s  {r.PrefillRoofline,6:P1} of {(r.Weights == "bf16" ? "FMA" : "int8")} roofline ({r.PrefillFlops / r.PromptTokens / 1e9:F2} GOP/token)");
        o.WriteLine($"first token  {r.TimeToFirstTokenSeconds,8:F3} s");
        o.WriteLine($"decode       {r.GenTokens,6} tokens  {r.DecodeTokensPerSecond,8:F2} tok/s  {r.DecodeRoofline,6:P1} of bandwidth roofline ({r.DecodeBytesPerToken / 1e9:F2} GB/token)");
        if (r.DecodeMilestones.Count > 1)
            o.WriteLine("latency      " + string.Join(", ", r.DecodeMilestones.Select(m => $"{m.Tokens} tokens {m.Seconds:F1} s")));
        o.WriteLine($"profile      prefill: {ProfileReport.Shares(r.PrefillProfile)}");
        o.WriteLine($"             decode:  {ProfileReport.Shares(r.DecodeProfile)}");
        o.WriteLine($"memory       weights {r.WeightBytes / 1e9:F2} GB, state {r.StateBytesPerSequence / 1e6:F1} MB/sequence, peak RSS {r.PeakRssBytes / 1e9:F2} GB, RSS growth during decode {r.RssGrowthDuringDecodeBytes / 1e6:F1} MB");
    }
}
