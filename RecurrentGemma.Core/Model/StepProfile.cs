using System.Diagnostics;

namespace RecurrentGemma.Core.Model;

/// <summary>The parts a forward step's time is split into (llama.cpp's GGML_PERF breakdown, by kind of work).</summary>
public enum StepPhase
{
    /// <summary>Every weight matmul of the layers (projections, gates, MLP).</summary>
    Matmul,
    /// <summary>Sliding-window attention over each sequence's ring and chunk, and the ring update.</summary>
    Attention,
    /// <summary>The recurrent blocks' causal conv and RG-LRU scan.</summary>
    Recurrence,
    /// <summary>Embedding, RMSNorms, residual adds, RoPE, GELU and the splits of stacked outputs.</summary>
    Elementwise,
    /// <summary>Final norm, the vocabulary-wide head matmul and the soft-cap.</summary>
    LogitsHead,
    /// <summary>Picking tokens from the logits (timed by the caller that samples, not by the forward pass).</summary>
    Sampling,
}

/// <summary>
/// Wall time per <see cref="StepPhase"/>, accumulated over the forward passes it is attached to
/// (<see cref="ForwardPass.Profile"/>). Timing is a timestamp per phase boundary (about 20 ns each, a few hundred
/// per 2B step), taken only while a profile is attached.
/// </summary>
public sealed class StepProfile
{
    readonly long[] _ticks = new long[Enum.GetValues<StepPhase>().Length];

    public static IReadOnlyList<StepPhase> Phases { get; } = Enum.GetValues<StepPhase>();

    public double Seconds(StepPhase phase) => (double)_ticks[(int)phase] / Stopwatch.Frequency;

    public double TotalSeconds
    {
        get
        {
            long sum = 0;
            foreach (long t in _ticks) sum += t;
            return (double)sum / Stopwatch.Frequency;
        }
    }

    /// <summary>Adds the time since <paramref name="since"/> (a <see cref="Stopwatch.GetTimestamp"/>) to the phase; returns now.</summary>
    public long Add(StepPhase phase, long since)
    {
        long now = Stopwatch.GetTimestamp();
        _ticks[(int)phase] += now - since;
        return now;
    }

    public void Reset() => Array.Clear(_ticks);
}

/// <summary>Phase boundaries that cost nothing when no profile is attached.</summary>
internal static class StepProfiling
{
    public static long Start(this StepProfile? profile) => profile is null ? 0 : Stopwatch.GetTimestamp();

    /// <summary>Ends a phase begun at <paramref name="since"/> and starts the next one.</summary>
    public static long Lap(this StepProfile? profile, StepPhase phase, long since) => profile is null ? 0 : profile.Add(phase, since);
}
