using RecurrentGemma.Kernels.Parallel;
using System.Diagnostics;
using System.Text.Json;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.State;
using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Benchmarking;

namespace RecurrentGemma.Benchmarking;

/// <summary>What <see cref="GenerationBenchmark.Run"/> measured, with the machine limits it measured alongside.</summary>
public sealed record GenerationBenchmarkResult
{
    public required string Model { get; init; }
    public required int Threads { get; init; }
    public required string Simd { get; init; }
    public required int PromptTokens { get; init; }
    public required int GenTokens { get; init; }
    public required double PrefillSeconds { get; init; }
    public required double TimeToFirstTokenSeconds { get; init; }
    public required double DecodeSeconds { get; init; }
    public required double BandwidthGBs { get; init; }
    public required double FmaGflops { get; init; }
    /// <summary>The integer dot-product peak on the quantized kernels' instructions (GOP/s, a multiply-add is 2).</summary>
    public required double Int8Gops { get; init; }
    /// <summary>The integer dot-product instructions the quantized kernels use here (AvxVnni, Avx512, Avx2, Vector128, Scalar).</summary>
    public string Int8Path { get; init; } = Int8Paths.Best.ToString();
    /// <summary>bf16, q8 or q4: the matrices' format (the quantized ones are measured against the int8 peak).</summary>
    public required string Weights { get; init; }
    public required long DecodeBytesPerToken { get; init; }
    public required double PrefillFlops { get; init; }
    public required long PeakRssBytes { get; init; }
    /// <summary>RSS after the last decode step minus RSS a tenth of the way in: constant-size state means about zero.</summary>
    public required long RssGrowthDuringDecodeBytes { get; init; }
    public required long StateBytesPerSequence { get; init; }
    public required long WeightBytes { get; init; }
    /// <summary>Seconds from the first decode step to token 128, 256, 512, ... (and the last): the model card's latency table.
    /// Constant-size state means they grow linearly in the token count.</summary>
    public required IReadOnlyList<(int Tokens, double Seconds)> DecodeMilestones { get; init; }
    /// <summary>Where the prefill's and the decode steps' time went (the decode's includes greedy sampling).</summary>
    public required StepProfile PrefillProfile { get; init; }
    public required StepProfile DecodeProfile { get; init; }

    public double PrefillTokensPerSecond => PromptTokens / PrefillSeconds;
    public double DecodeTokensPerSecond => GenTokens / DecodeSeconds;
    /// <summary>The compute roofline: f32 FMA for bf16 weights, the int8 dot peak for q8 / q4.</summary>
    public double ComputePeakGops => Weights == "bf16" ? FmaGflops : Int8Gops;
    /// <summary>Fraction of the compute roofline reached by prefill: (operations / peak) / measured time.</summary>
    public double PrefillRoofline => PrefillFlops / (ComputePeakGops * 1e9) / PrefillSeconds;
    /// <summary>Fraction of the bandwidth roofline reached by decode: bytes moved per second / measured bandwidth.</summary>
    public double DecodeRoofline => DecodeBytesPerToken * DecodeTokensPerSecond / (BandwidthGBs * 1e9);

    public void WriteJson(Utf8JsonWriter json)
    {
        json.WriteStartObject();
        json.WriteString("model", Model);
        json.WriteNumber("threads", Threads);
        json.WriteString("simd", Simd);
        json.WriteNumber("prompt_tokens", PromptTokens);
        json.WriteNumber("gen_tokens", GenTokens);
        json.WriteNumber("prefill_tok_s", Math.Round(PrefillTokensPerSecond, 3));
        json.WriteNumber("decode_tok_s", Math.Round(DecodeTokensPerSecond, 3));
        json.WriteNumber("ttft_s", Math.Round(TimeToFirstTokenSeconds, 6));
        json.WriteNumber("bandwidth_gb_s", Math.Round(BandwidthGBs, 2));
        json.WriteNumber("fma_gflop_s", Math.Round(FmaGflops, 1));
        json.WriteNumber("int8_gop_s", Math.Round(Int8Gops, 1));
        json.WriteString("int8_path", Int8Path);
        json.WriteString("weights", Weights);
        json.WriteNumber("prefill_roofline", Math.Round(PrefillRoofline, 4));
        json.WriteNumber("decode_roofline", Math.Round(DecodeRoofline, 4));
        json.WriteNumber("decode_bytes_per_token", DecodeBytesPerToken);
        json.WriteNumber("prefill_gflop", Math.Round(PrefillFlops / 1e9, 3));
        json.WriteNumber("peak_rss_bytes", PeakRssBytes);
        json.WriteNumber("rss_growth_during_decode_bytes", RssGrowthDuringDecodeBytes);
        json.WriteNumber("state_bytes_per_sequence", StateBytesPerSequence);
        json.WriteNumber("weight_bytes", WeightBytes);
        json.WriteStartArray("decode_milestones");
        foreach (var (tokens, seconds) in DecodeMilestones)
        {
            json.WriteStartObject();
            json.WriteNumber("tokens", tokens);
            json.WriteNumber("seconds", Math.Round(seconds, 4));
            json.WriteEndObject();
        }
        json.WriteEndArray();
        // Seconds per phase: for the whole prefill, and per decode step.
        json.WriteStartObject("profile");
        ProfileReport.WriteJson(json, "prefill", PrefillProfile, 1);
        ProfileReport.WriteJson(json, "decode", DecodeProfile, GenTokens);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}

/// <summary>
/// llama-bench for one sequence: prefill a prompt of random token ids, then greedy-decode, timing both, with the
/// machine's bandwidth and FMA peak probed before and after (the higher reading is the roofline, so the reported
/// fraction errs low when a shared machine is noisy).
/// </summary>
public static class GenerationBenchmark
{
    /// <summary>Deterministic random token ids (past the special ids) for a benchmark prompt.</summary>
    internal static int[] RandomPrompt(RecurrentGemma.Core.Config.ModelConfig c, int tokens)
    {
        var prompt = new int[tokens];
        var rng = new Random(12345);
        for (int i = 0; i < prompt.Length; i++) prompt[i] = rng.Next(Math.Min(3, c.VocabSize - 1), c.VocabSize);
        return prompt;
    }

    /// <summary>
    /// This machine's read bandwidth (GB/s) and the compute peak the model's matmuls run on (GOP/s): the f32 FMA peak
    /// for bf16 weights, the int8 dot-product peak for quantized ones.
    /// </summary>
    public static (double BandwidthGBs, double PeakGops) MeasureLimits(RecurrentGemmaModel model)
    {
        var pool = new WorkerPool(model.Threads);
        double bandwidth = MachineLimits.MeasureReadBandwidth(pool);
        return (bandwidth, model.Weights.Format == WeightFormat.Bf16 ? MachineLimits.MeasureFmaPeak(pool) : MachineLimits.MeasureInt8Peak(pool));
    }

    public static GenerationBenchmarkResult Run(RecurrentGemmaModel model, int promptTokens, int genTokens, Action<string>? progress = null)
    {
        if (promptTokens < 1) throw new ArgumentOutOfRangeException(nameof(promptTokens), promptTokens, "the prompt needs at least 1 token");
        if (genTokens < 1) throw new ArgumentOutOfRangeException(nameof(genTokens), genTokens, "generate at least 1 token");
        var c = model.Config;
        progress?.Invoke("probing memory bandwidth and FMA peak");
        double bandwidth = MachineLimits.MeasureReadBandwidth(new WorkerPool(model.Threads)), fma = MachineLimits.MeasureFmaPeak(new WorkerPool(model.Threads));
        double int8 = MachineLimits.MeasureInt8Peak(new WorkerPool(model.Threads));
        ProcessMemory.ResetPeak();   // the probe's buffer is freed; count only the engine

        int[] prompt = RandomPrompt(c, promptTokens);
        var pass = model.CreateForwardPass();
        var state = model.CreateState();
        var logits = new float[c.VocabSize];

        // Warm-up on a throwaway state: JIT tiers, page tables, worker threads, and every tile the timed prefill will use
        // (a full pass: a short one leaves the row tiles of a 256-row pass to be compiled inside the timed region; measured:
        // q8 prefill 512 159 -> 165-167 tok/s, bf16 116 -> 119 on the Zen 5 VM).
        var warm = model.CreateState();
        pass.Run([new BatchEntry(warm, prompt.AsMemory(0, Math.Min(pass.MaxRowsPerPass, promptTokens)))], logits);

        progress?.Invoke($"prefill {promptTokens} tokens");
        var prefillProfile = new StepProfile();
        var decodeProfile = new StepProfile();
        pass.Profile = prefillProfile;
        long t0 = Stopwatch.GetTimestamp();
        pass.Run([new BatchEntry(state, prompt)], logits);
        double prefill = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        long ts = Stopwatch.GetTimestamp();
        int token = Reductions.ArgMax(logits);
        prefillProfile.Add(StepPhase.Sampling, ts);
        double ttft = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        pass.Profile = decodeProfile;

        progress?.Invoke($"decode {genTokens} tokens");
        var next = new int[1];
        BatchEntry[] step = [new BatchEntry(state, next)];
        long rssFirst = 0;
        int settled = genTokens / 10;   // let JIT tiering and first-touch pages settle before the baseline
        var milestones = new List<(int, double)>();
        int nextMilestone = 128;
        t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < genTokens; i++)
        {
            next[0] = token;
            pass.Run(step, logits);
            ts = Stopwatch.GetTimestamp();
            token = Reductions.ArgMax(logits);
            decodeProfile.Add(StepPhase.Sampling, ts);
            if (i == settled) rssFirst = ProcessMemory.CurrentRssBytes;
            if (i + 1 == nextMilestone || i + 1 == genTokens)
            {
                milestones.Add((i + 1, Stopwatch.GetElapsedTime(t0).TotalSeconds));
                if (i + 1 == nextMilestone) nextMilestone *= 2;
            }
        }
        double decode = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        long rssLast = ProcessMemory.CurrentRssBytes, peakRss = ProcessMemory.PeakRssBytes;

        progress?.Invoke("probing again");
        bandwidth = Math.Max(bandwidth, MachineLimits.MeasureReadBandwidth(new WorkerPool(model.Threads)));
        fma = Math.Max(fma, MachineLimits.MeasureFmaPeak(new WorkerPool(model.Threads)));
        int8 = Math.Max(int8, MachineLimits.MeasureInt8Peak(new WorkerPool(model.Threads)));

        return new GenerationBenchmarkResult
        {
            Model = model.Source,
            Threads = model.Threads,
            Simd = Kernels.Simd.Best.ToString(),
            PromptTokens = promptTokens,
            GenTokens = genTokens,
            PrefillSeconds = prefill,
            TimeToFirstTokenSeconds = ttft,
            DecodeSeconds = decode,
            BandwidthGBs = bandwidth,
            FmaGflops = fma,
            Int8Gops = int8,
            Weights = model.Weights.Format.Name(),
            DecodeBytesPerToken = ModelCost.DecodeBytesPerToken(model),
            PrefillFlops = ModelCost.PrefillFlops(c, promptTokens),
            PeakRssBytes = peakRss,
            RssGrowthDuringDecodeBytes = rssLast - rssFirst,
            DecodeMilestones = milestones,
            StateBytesPerSequence = SequenceState.BytesFor(c),
            WeightBytes = model.Weights.MatrixBytes,
            PrefillProfile = prefillProfile,
            DecodeProfile = decodeProfile,
        };
    }
}
