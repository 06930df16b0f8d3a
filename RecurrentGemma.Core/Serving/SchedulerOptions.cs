namespace RecurrentGemma.Core.Serving;

/// <summary>How the <see cref="BatchScheduler"/> shares the machine between requests.</summary>
public sealed record SchedulerOptions
{
    /// <summary>Upper bound of <see cref="MaxTokensPerStep"/> and of <see cref="PrefillChunk"/>.</summary>
    public const int MaxStepRows = Model.ForwardPass.MaxRowsLimit;
    /// <summary>Upper bound of concurrently running sequences, whatever the memory budget.</summary>
    public const int MaxSequences = 1 << 16;
    /// <summary>A sequence's position never passes this (positions are 32-bit).</summary>
    public const int MaxPositions = int.MaxValue;

    /// <summary>Rows one engine step may feed: every running decode (one each) plus prefill chunks, so a long prompt never stalls running decodes.</summary>
    public int MaxTokensPerStep { get; init; } = 256;
    /// <summary>Most prompt tokens of one request per step (chunked prefill).</summary>
    public int PrefillChunk { get; init; } = 128;
    /// <summary>Memory for sequence states: concurrent sequences = budget / state bytes per sequence (at least 1). Requests beyond wait.</summary>
    public long MemoryBudgetBytes { get; init; } = 2L << 30;
    /// <summary>At most this many sequences run at once whatever the memory budget (a server's --max-sequences).</summary>
    public int MaxRunningSequences { get; init; } = MaxSequences;

    /// <summary>Throws <see cref="RecurrentGemmaException"/> naming the property and its accepted range.</summary>
    public SchedulerOptions Validate()
    {
        if (MaxTokensPerStep is < 1 or > MaxStepRows)
            throw new RecurrentGemmaException($"{nameof(MaxTokensPerStep)} = {MaxTokensPerStep} must be in [1, {MaxStepRows}]");
        if (PrefillChunk is < 1 or > MaxStepRows)
            throw new RecurrentGemmaException($"{nameof(PrefillChunk)} = {PrefillChunk} must be in [1, {MaxStepRows}]");
        if (MaxRunningSequences is < 1 or > MaxSequences)
            throw new RecurrentGemmaException($"{nameof(MaxRunningSequences)} = {MaxRunningSequences} must be in [1, {MaxSequences}]");
        if (MemoryBudgetBytes < 1) throw new RecurrentGemmaException($"{nameof(MemoryBudgetBytes)} = {MemoryBudgetBytes} must be positive");
        return this;
    }
}
