using System.Diagnostics;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.State;
using RecurrentGemma.Kernels;

namespace RecurrentGemma.Core.Benchmarking;

/// <summary>Aggregate decode throughput at one batch size.</summary>
public sealed record BatchPoint(int Batch, double DecodeTokensPerSecond, double Roofline, long PeakRssBytes, long RssBytes);

/// <summary>Resident memory sampled while one sequence generates: constant-size state means a flat line.</summary>
public sealed record MemorySample(int TokensGenerated, long RssBytes);

/// <summary>
/// Throughput over batch sizes: for each size B, B sequences hold a prompt of the given length (prefilled once and
/// forked, which gives every sequence the same attention window and state as distinct prompts would), then decode
/// together, one row per sequence per step, greedy. The roofline of a step is the larger of (weights + B states) /
/// bandwidth and B rows of FLOPs / FMA peak; the fraction reported is that time over the measured one.
/// </summary>
public static class BatchDecodeBenchmark
{
    public static IReadOnlyList<BatchPoint> Run(RecurrentGemmaModel model, IReadOnlyList<int> batches, int promptTokens, int genTokens,
        double bandwidthGBs, double fmaGflops, List<MemorySample>? memory = null, Action<string>? progress = null)
    {
        var c = model.Config;
        int maxBatch = 0;
        foreach (int b in batches) maxBatch = Math.Max(maxBatch, b);
        var pass = model.CreateForwardPass(Math.Min(256, Math.Max(maxBatch, Math.Min(promptTokens, 256))));
        int[] prompt = GenerationBenchmark.RandomPrompt(c, promptTokens);
        var prefilled = model.CreateState();
        var logits = new float[maxBatch * c.VocabSize];
        progress?.Invoke($"prefill {promptTokens} tokens (shared by every sequence)");
        pass.Run([new BatchEntry(prefilled, prompt)], logits.AsSpan(0, c.VocabSize));
        int first = Reductions.ArgMax(logits.AsSpan(0, c.VocabSize));

        var points = new List<BatchPoint>();
        foreach (int batch in batches)
        {
            progress?.Invoke($"batch {batch}: decode {genTokens} tokens per sequence");
            var states = new SequenceState[batch];
            var tokens = new int[batch][];
            var entries = new BatchEntry[batch];
            for (int s = 0; s < batch; s++)
            {
                states[s] = model.CreateState();
                states[s].CopyFrom(prefilled);
                tokens[s] = [first];
                entries[s] = new BatchEntry(states[s], tokens[s]);
            }
            pass.Run(entries, logits);   // warm-up step (not timed)
            ProcessMemory.ResetPeak();
            long t0 = Stopwatch.GetTimestamp();
            for (int step = 0; step < genTokens; step++)
            {
                pass.Run(entries, logits);
                for (int s = 0; s < batch; s++) tokens[s][0] = Reductions.ArgMax(logits.AsSpan(s * c.VocabSize, c.VocabSize));
                if (batch == batches[0] && memory is not null && (step % Math.Max(1, genTokens / 32) == 0 || step == genTokens - 1))
                    memory.Add(new MemorySample(step + 1, ProcessMemory.CurrentRssBytes));
            }
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            double roof = 0;
            for (int step = 0; step < genTokens; step++)
                roof += Math.Max(ModelCost.DecodeStepBytes(c, batch) / (bandwidthGBs * 1e9),
                    ModelCost.DecodeStepFlops(c, batch, promptTokens + 1 + step) / (fmaGflops * 1e9));
            points.Add(new BatchPoint(batch, (double)batch * genTokens / seconds, roof / seconds, ProcessMemory.PeakRssBytes, ProcessMemory.CurrentRssBytes));
        }
        return points;
    }
}
