using System.Diagnostics;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.State;
using RecurrentGemma.Kernels;

namespace RecurrentGemma.Benchmarking;

/// <summary>Aggregate decode throughput at one batch size.</summary>
/// <param name="Profile">Where the timed steps' time went, greedy sampling of every row included.</param>
public sealed record BatchPoint(int Batch, double DecodeTokensPerSecond, double Roofline, long PeakRssBytes, long RssBytes, StepProfile Profile, int Steps);

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
        progress?.Invoke($"prefill {promptTokens} tokens (shared by every sequence)");
        var run = new ForkedDecode(model, batches, promptTokens, bandwidthGBs, fmaGflops);
        var points = new List<BatchPoint>();
        foreach (int batch in batches)
        {
            progress?.Invoke($"batch {batch}: decode {genTokens} tokens per sequence");
            points.Add(run.Time(batch, genTokens, batch == batches[0] ? memory : null));
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
        progress?.Invoke($"prefill {promptTokens} tokens");
        var run = new ForkedDecode(model, batches, promptTokens, bandwidthGBs, fmaGflops);
        var points = new List<DepthPoint>();
        foreach (int depth in depths)
        {
            progress?.Invoke($"decode one sequence to {depth} generated tokens");
            run.AdvanceParentTo(depth);
            foreach (int batch in batches)
            {
                progress?.Invoke($"at {depth} generated tokens: batch {batch}, {stepsPerPoint} steps");
                var p = run.Time(batch, stepsPerPoint, null);
                points.Add(new DepthPoint(depth, batch, p.DecodeTokensPerSecond, p.Roofline));
            }
        }
        return points;
    }

    /// <summary>One prefilled parent sequence (which can decode further on its own) and the states it is forked into for timing.</summary>
    sealed class ForkedDecode
    {
        readonly RecurrentGemmaModel _model;
        readonly ForwardPass _pass;
        readonly SequenceState _parent;
        readonly SequenceState[] _states;
        readonly float[] _logits;
        readonly int[] _next = new int[1];
        readonly int _promptTokens;
        readonly double _bandwidthGBs, _fmaGflops;
        int _generated;

        public ForkedDecode(RecurrentGemmaModel model, IReadOnlyList<int> batches, int promptTokens, double bandwidthGBs, double fmaGflops)
        {
            var c = model.Config;
            int maxBatch = 0;
            foreach (int b in batches) maxBatch = Math.Max(maxBatch, b);
            (_model, _promptTokens, _bandwidthGBs, _fmaGflops) = (model, promptTokens, bandwidthGBs, fmaGflops);
            _pass = model.CreateForwardPass(Math.Min(256, Math.Max(maxBatch, Math.Min(promptTokens, 256))));
            _parent = model.CreateState();
            _logits = new float[maxBatch * c.VocabSize];
            _pass.Run([new BatchEntry(_parent, GenerationBenchmark.RandomPrompt(c, promptTokens))], _logits.AsSpan(0, c.VocabSize));
            _next[0] = Reductions.ArgMax(_logits.AsSpan(0, c.VocabSize));
            _states = new SequenceState[maxBatch];
            for (int s = 0; s < maxBatch; s++) _states[s] = model.CreateState();
        }

        /// <summary>Greedy-decodes the parent alone until it has generated <paramref name="generated"/> tokens.</summary>
        public void AdvanceParentTo(int generated)
        {
            int vocab = _model.Config.VocabSize;
            for (; _generated < generated; _generated++)
            {
                _pass.Run([new BatchEntry(_parent, _next)], _logits.AsSpan(0, vocab));
                _next[0] = Reductions.ArgMax(_logits.AsSpan(0, vocab));
            }
        }

        /// <summary>Forks the parent into <paramref name="batch"/> sequences and times <paramref name="steps"/> greedy decode steps (after one untimed warm-up step).</summary>
        public BatchPoint Time(int batch, int steps, List<MemorySample>? memory)
        {
            var c = _model.Config;
            var tokens = new int[batch][];
            var entries = new BatchEntry[batch];
            for (int s = 0; s < batch; s++)
            {
                _states[s].CopyFrom(_parent);
                tokens[s] = [_next[0]];
                entries[s] = new BatchEntry(_states[s], tokens[s]);
            }
            _pass.Run(entries, _logits);   // warm-up step (not timed)
            ProcessMemory.ResetPeak();
            var profile = new StepProfile();
            _pass.Profile = profile;
            long t0 = Stopwatch.GetTimestamp();
            for (int step = 0; step < steps; step++)
            {
                _pass.Run(entries, _logits);
                long ts = Stopwatch.GetTimestamp();
                for (int s = 0; s < batch; s++) tokens[s][0] = Reductions.ArgMax(_logits.AsSpan(s * c.VocabSize, c.VocabSize));
                profile.Add(StepPhase.Sampling, ts);
                if (memory is not null && (step % Math.Max(1, steps / 32) == 0 || step == steps - 1))
                    memory.Add(new MemorySample(step + 1, ProcessMemory.CurrentRssBytes));
            }
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            _pass.Profile = null;
            int position = _promptTokens + _generated;
            double roof = 0;
            for (int step = 0; step < steps; step++)
                roof += Math.Max(ModelCost.DecodeStepBytes(_model, batch) / (_bandwidthGBs * 1e9),
                    ModelCost.DecodeStepFlops(c, batch, position + 1 + step) / (_fmaGflops * 1e9));
            return new BatchPoint(batch, (double)batch * steps / seconds, roof / seconds, ProcessMemory.PeakRssBytes, ProcessMemory.CurrentRssBytes, profile, steps);
        }
    }
}
