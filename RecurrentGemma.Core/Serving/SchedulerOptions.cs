namespace RecurrentGemma.Core.Serving;

/// <summary>How the <see cref="BatchScheduler"/> shares the machine between requests.</summary>
public sealed record SchedulerOptions
{
    /// <summary>Rows one engine step may feed: every running decode (one each) plus prefill chunks, so a long prompt never stalls running decodes.</summary>
    public int MaxTokensPerStep { get; init; } = 256;
    /// <summary>Most prompt tokens of one request per step (chunked prefill).</summary>
    public int PrefillChunk { get; init; } = 128;
    /// <summary>Memory for sequence states: concurrent sequences = budget / state bytes per sequence (at least 1). Requests beyond wait.</summary>
    public long MemoryBudgetBytes { get; init; } = 2L << 30;

    public SchedulerOptions Validate()
    {
        if (MaxTokensPerStep < 1) throw new RecurrentGemmaException($"max tokens per step {MaxTokensPerStep} must be at least 1");
        if (PrefillChunk < 1) throw new RecurrentGemmaException($"prefill chunk {PrefillChunk} must be at least 1");
        if (MemoryBudgetBytes < 1) throw new RecurrentGemmaException($"memory budget {MemoryBudgetBytes} must be positive");
        return this;
    }
}
