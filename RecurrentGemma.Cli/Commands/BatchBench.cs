using System.Text;
using RecurrentGemma.Benchmarking;
using RecurrentGemma.Core.IO;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.State;

namespace RecurrentGemma.Cli.Commands;

/// <summary>rgemma bench --batch: aggregate decode throughput per batch size, with rooflines, memory, and optional SVG plots.</summary>
internal static class BatchBench
{
    public static void Run(RecurrentGemmaModel model, int[] sizes, int prompt, int gen, bool asJson, string? plot, TextWriter stdout, TextWriter stderr)
    {
        Action<string>? say = asJson ? null : m => stderr.WriteLine($"rgemma bench: {m}");
        say?.Invoke("probing memory bandwidth and FMA peak");
        var (bandwidth, fma) = GenerationBenchmark.MeasureLimits(model);
        var memory = new List<MemorySample>();
        var points = BatchDecodeBenchmark.Run(model, sizes, prompt, gen, bandwidth, fma, memory, say);
        long state = SequenceState.BytesFor(model.Config), weights = model.Weights.MatrixBytes;
        if (asJson)
        {
            JsonOutput.WriteLine(stdout, w =>
            {
                WriteRunFields(w, model, prompt, bandwidth, fma);
                w.WriteNumber("gen_tokens", gen);
                w.WriteNumber("state_bytes_per_sequence", state);
                w.WriteNumber("weight_bytes", weights);
                w.WriteStartArray("batches");
                foreach (var p in points)
                {
                    w.WriteStartObject();
                    w.WriteNumber("batch", p.Batch);
                    w.WriteNumber("decode_tok_s", Math.Round(p.DecodeTokensPerSecond, 3));
                    w.WriteNumber("decode_roofline", Math.Round(p.Roofline, 4));
                    w.WriteNumber("peak_rss_bytes", p.PeakRssBytes);
                    w.WriteNumber("state_bytes", p.Batch * state);
                    ProfileReport.WriteJson(w, "profile", p.Profile, p.Steps);   // seconds per phase, per step
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteStartArray("memory");
                foreach (var m in memory)
                {
                    w.WriteStartObject();
                    w.WriteNumber("tokens", m.TokensGenerated);
                    w.WriteNumber("rss_bytes", m.RssBytes);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            });
        }
        else
        {
            stdout.WriteLine($"model {model.Source}, {model.Threads} threads; prompt {prompt} (prefilled once, forked to every sequence), {gen} tokens per sequence");
            stdout.WriteLine($"machine read bandwidth {bandwidth:F1} GB/s, {PeakName(model)} peak {fma:F0} GOP/s; weights {weights / 1e9:F2} GB, state {state / 1e6:F1} MB per sequence");
            stdout.WriteLine(" batch   decode tok/s   roofline   states (MB)   peak RSS (GB)");
            foreach (var p in points)
                stdout.WriteLine($"{p.Batch,6} {p.DecodeTokensPerSecond,14:F2} {p.Roofline,10:P1} {p.Batch * state / 1e6,13:F1} {p.PeakRssBytes / 1e9,15:F2}");
            stdout.WriteLine("where a step's time goes:");
            foreach (var p in points)
                stdout.WriteLine($"{p.Batch,6}   {ProfileReport.Shares(p.Profile)}");
        }
        if (plot is null) return;
        AtomicFile.Write(plot + "-throughput.svg", s => s.Write(Encoding.UTF8.GetBytes(SvgChart.Line(
            $"Decode throughput vs batch ({model.Source})", "batch size", "tokens/s (all sequences)",
            [.. points.Select(p => ((double)p.Batch, p.DecodeTokensPerSecond))], logX: true))));
        AtomicFile.Write(plot + "-memory.svg", s => s.Write(Encoding.UTF8.GetBytes(SvgChart.Line(
            $"Resident memory while generating (batch {sizes[0]})", "tokens generated", "RSS (MB)",
            [.. memory.Select(m => ((double)m.TokensGenerated, m.RssBytes / 1e6))]))));
        stderr.WriteLine($"rgemma bench: wrote {plot}-throughput.svg and {plot}-memory.svg");
    }

    public static void RunAtDepths(RecurrentGemmaModel model, int[] sizes, int prompt, int[] depths, int steps, bool asJson, string? plot,
        TextWriter stdout, TextWriter stderr)
    {
        Action<string>? say = asJson ? null : m => stderr.WriteLine($"rgemma bench: {m}");
        say?.Invoke("probing memory bandwidth and FMA peak");
        var (bandwidth, fma) = GenerationBenchmark.MeasureLimits(model);
        var points = BatchDecodeBenchmark.RunAtDepths(model, sizes, prompt, depths, steps, bandwidth, fma, say);
        if (asJson)
        {
            JsonOutput.WriteLine(stdout, w =>
            {
                WriteRunFields(w, model, prompt, bandwidth, fma);
                w.WriteNumber("steps_per_point", steps);
                w.WriteStartArray("depths");
                foreach (var p in points)
                {
                    w.WriteStartObject();
                    w.WriteNumber("generated_tokens", p.Depth);
                    w.WriteNumber("batch", p.Batch);
                    w.WriteNumber("decode_tok_s", Math.Round(p.DecodeTokensPerSecond, 3));
                    w.WriteNumber("decode_roofline", Math.Round(p.Roofline, 4));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            });
        }
        else
        {
            stdout.WriteLine($"model {model.Source}, {model.Threads} threads; prompt {prompt}; aggregate decode tok/s over {steps} steps once every sequence has generated N tokens");
            stdout.WriteLine($"machine read bandwidth {bandwidth:F1} GB/s, {PeakName(model)} peak {fma:F0} GOP/s");
            stdout.WriteLine("generated " + string.Concat(sizes.Select(b => $"{"batch " + b,18}")));
            foreach (int depth in depths)
                stdout.WriteLine($"{depth,9} " + string.Concat(points.Where(p => p.Depth == depth).Select(p => $"{p.DecodeTokensPerSecond,10:F2} ({p.Roofline,5:P0})")));
        }
        if (plot is null) return;
        AtomicFile.Write(plot + "-depths.svg", s => s.Write(Encoding.UTF8.GetBytes(SvgChart.Lines(
            $"Decode throughput as sequences grow ({model.Source}, prompt {prompt})", "tokens generated", "tokens/s (all sequences)",
            [.. sizes.Select(b => new ChartSeries($"batch {b}", [.. points.Where(p => p.Batch == b).Select(p => ((double)p.Depth, p.DecodeTokensPerSecond))]))],
            logX: true))));
        stderr.WriteLine($"rgemma bench: wrote {plot}-depths.svg");
    }

    /// <summary>The compute roofline the model's matmuls run against: f32 FMA for bf16, the int8 dot peak for q8 / q4.</summary>
    static string PeakName(RecurrentGemmaModel model) => model.Weights.Format == WeightFormat.Bf16 ? "FMA (f32)" : "int8 dot";

    /// <summary>Opens the JSON object with what every batch report starts with: the model, threads, prompt and machine limits.</summary>
    static void WriteRunFields(System.Text.Json.Utf8JsonWriter w, RecurrentGemmaModel model, int prompt, double bandwidth, double fma)
    {
        w.WriteStartObject();
        w.WriteString("model", model.Source);
        w.WriteNumber("threads", model.Threads);
        w.WriteNumber("prompt_tokens", prompt);
        w.WriteNumber("bandwidth_gb_s", Math.Round(bandwidth, 2));
        w.WriteNumber(model.Weights.Format == WeightFormat.Bf16 ? "fma_gflop_s" : "int8_gop_s", Math.Round(fma, 1));
        w.WriteString("weights", model.Weights.Format.Name());
    }
}
