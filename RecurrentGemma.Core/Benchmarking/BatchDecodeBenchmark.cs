using System.Diagnostics;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.State;
using RecurrentGemma.Kernels;

namespace RecurrentGemma.Core.Benchmarking;

/// <summary>Aggregate decode throughput at one batch size.</summary>
public sealed record BatchPoint(int Batch, double DecodeTokensPerSecond, double Roofline, long PeakRssBytes, long RssBytes);

/// <summary>Aggregate decode throughput at one batch size once every sequence has generated <paramref name="Depth"/> tokens.</summary>
public sealed record DepthPoint(int Depth, int Batch, double DecodeTokensPerSecond, double Roofline);

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
        var states = ForkTargets(model, maxBatch);
        foreach (int batch in batches)
        {
            progress?.Invoke($"batch {batch}: decode {genTokens} tokens per sequence");
            points.Add(TimeBatch(model, pass, prefilled, first, states, batch, genTokens, promptTokens, logits, bandwidthGBs, fmaGflops,
                batch == batches[0] ? memory : null));
        }
        return points;
    }

    /// <summary>
    /// Throughput as sequences grow (the Griffin paper's throughput figure): one sequence prefills the prompt and decodes
    /// greedily; each time it has generated one of <paramref name="depths"/> tokens, its state is forked to every batch
    /// size and <paramref name="stepsPerPoint"/> batched decode steps are timed at that length. Past the attention window
    /// a step's work is constant, so the rate must stay flat from there on.
    /// </summary>
    public static IReadOnlyList<DepthPoint> RunAtDepths(RecurrentGemmaModel model, IReadOnlyList<int> batches, int promptTokens,
        IReadOnlyList<int> depths, int stepsPerPoint, double bandwidthGBs, double fmaGflops, Action<string>? progress = null)
    {
        var c = model.Config;
        int maxBatch = 0;
        foreach (int b in batches) maxBatch = Math.Max(maxBatch, b);
        var pass = model.CreateForwardPass(Math.Min(256, Math.Max(maxBatch, Math.Min(promptTokens, 256))));
        var parent = model.CreateState();
        var logits = new float[maxBatch * c.VocabSize];
        progress?.Invoke($"prefill {promptTokens} tokens");
        pass.Run([new BatchEntry(parent, GenerationBenchmark.RandomPrompt(c, promptTokens))], logits.AsSpan(0, c.VocabSize));
        int[] next = [Reductions.ArgMax(logits.AsSpan(0, c.VocabSize))];
        var states = ForkTargets(model, maxBatch);
        var points = new List<DepthPoint>();
        int generated = 0;
        foreach (int depth in depths)
        {
            progress?.Invoke($"decode one sequence to {depth} generated tokens");
            for (; generated < depth; generated++)
            {
                pass.Run([new BatchEntry(parent, next)], logits.AsSpan(0, c.VocabSize));
                next[0] = Reductions.ArgMax(logits.AsSpan(0, c.VocabSize));
            }
            foreach (int batch in batches)
            {
                progress?.Invoke($"at {depth} generated tokens: batch {batch}, {stepsPerPoint} steps");
                var p = TimeBatch(model, pass, parent, next[0], states, batch, stepsPerPoint, promptTokens + depth, logits, bandwidthGBs, fmaGflops, null);
                points.Add(new DepthPoint(depth, batch, p.DecodeTokensPerSecond, p.Roofline));
            }
        }
        return points;
    }

    static SequenceState[] ForkTargets(RecurrentGemmaModel model, int count)
    {
        var states = new SequenceState[count];
        for (int s = 0; s < count; s++) states[s] = model.CreateState();
        return states;
    }

    /// <summary>Forks <paramref name="parent"/> into <paramref name="batch"/> sequences and times <paramref name="steps"/> greedy decode steps (after one untimed warm-up step).</summary>
    static BatchPoint TimeBatch(RecurrentGemmaModel model, ForwardPass pass, SequenceState parent, int first, SequenceState[] states, int batch,
        int steps, int position, float[] logits, double bandwidthGBs, double fmaGflops, List<MemorySample>? memory)
    {
        var c = model.Config;
        var tokens = new int[batch][];
        var entries = new BatchEntry[batch];
        for (int s = 0; s < batch; s++)
        {
            states[s].CopyFrom(parent);
            tokens[s] = [first];
            entries[s] = new BatchEntry(states[s], tokens[s]);
        }
        pass.Run(entries, logits);   // warm-up step (not timed)
        ProcessMemory.ResetPeak();
        long t0 = Stopwatch.GetTimestamp();
        for (int step = 0; step < steps; step++)
        {
            pass.Run(entries, logits);
            for (int s = 0; s < batch; s++) tokens[s][0] = Reductions.ArgMax(logits.AsSpan(s * c.VocabSize, c.VocabSize));
            if (memory is not null && (step % Math.Max(1, steps / 32) == 0 || step == steps - 1))
                memory.Add(new MemorySample(step + 1, ProcessMemory.CurrentRssBytes));
        }
        double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        double roof = 0;
        for (int step = 0; step < steps; step++)
            roof += Math.Max(ModelCost.DecodeStepBytes(c, batch) / (bandwidthGBs * 1e9),
                ModelCost.DecodeStepFlops(c, batch, position + 1 + step) / (fmaGflops * 1e9));
        return new BatchPoint(batch, (double)batch * steps / seconds, roof / seconds, ProcessMemory.PeakRssBytes, ProcessMemory.CurrentRssBytes);
    }
}
