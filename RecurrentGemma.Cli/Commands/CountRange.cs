namespace RecurrentGemma.Cli.Commands;

/// <summary>
/// The accepted range of every count the command line takes, checked in one place: a value outside it is one line
/// naming the flag and the range (exit 2), before anything is sized from it.
/// </summary>
public readonly record struct CountRange(int Min, int Max)
{
    /// <summary>Tokens of a prompt or a generation (16M: days of decoding on a CPU).</summary>
    public static readonly CountRange Tokens = new(0, 1 << 24);
    public static readonly CountRange PositiveTokens = new(1, 1 << 24);
    public static readonly CountRange Threads = new(0, Kernels.Parallel.WorkerPool.MaxThreads);
    public static readonly CountRange TopK = new(0, 1 << 20);
    /// <summary>Rows per forward pass (perplexity's chunk): logits of chunk x vocabulary floats are held at once.</summary>
    public static readonly CountRange Chunk = new(1, 1024);
    public static readonly CountRange BatchSize = new(1, 4096);
    /// <summary>forward's ids and steps: it keeps logits for every one of them.</summary>
    public static readonly CountRange ForwardTokens = new(0, 1 << 16);

    public int Check(string flag, int value) =>
        value >= Min && value <= Max ? value : throw new UsageException($"{flag}: {value} must be in [{Min}, {Max}]");
}
