using RecurrentGemma.Core.Config;

namespace RecurrentGemma.Core.State;

/// <summary>
/// Everything one sequence carries between forward calls: per recurrent layer the conv history (last Wc-1 inputs) and
/// the RG-LRU state h; per attention layer a ring buffer of the last Wa keys (after RoPE) and values. Its size depends
/// only on the config, never on how many tokens were processed: RecurrentGemma's reason to exist.
/// </summary>
public sealed class SequenceState
{
    internal readonly float[]?[] Conv;
    internal readonly float[]?[] Lru;
    internal readonly float[]?[] RingKeys;
    internal readonly float[]?[] RingValues;

    public ModelConfig Config { get; }
    /// <summary>Tokens processed since the segment start; the position of the next token.</summary>
    public int Position { get; internal set; }
    int _inUse;

    /// <summary>Set while a forward pass uses this state, so one state cannot appear twice in a batch (or in two passes at once).</summary>
    internal bool InUse => Volatile.Read(ref _inUse) != 0;

    /// <summary>Marks the state as used by a pass; false if it already is (one atomic check-and-set).</summary>
    internal bool TryMarkInUse() => Interlocked.CompareExchange(ref _inUse, 1, 0) == 0;

    internal void ClearInUse() => Volatile.Write(ref _inUse, 0);

    public SequenceState(ModelConfig config)
    {
        Config = config;
        int layers = config.NumLayers, e = config.LruWidth, window = config.AttentionWindow, kv = config.NumKvHeads * config.HeadDim;
        Conv = new float[]?[layers];
        Lru = new float[]?[layers];
        RingKeys = new float[]?[layers];
        RingValues = new float[]?[layers];
        for (int i = 0; i < layers; i++)
        {
            if (config.LayerType(i) == BlockType.Recurrent)
            {
                Conv[i] = new float[checked((config.ConvWidth - 1) * e)];
                Lru[i] = new float[e];
            }
            else
            {
                // ModelConfig.Validate bounds window x kv (Limits.ArrayElements), so this never wraps; checked all the same.
                int ring = checked((int)((long)window * kv));
                RingKeys[i] = new float[ring];
                RingValues[i] = new float[ring];
            }
        }
    }

    /// <summary>Bytes of state per sequence for a config (f32 conv history, RG-LRU state and K/V ring buffers).</summary>
    public static long BytesFor(ModelConfig config)
    {
        long recurrent = config.CountLayers(BlockType.Recurrent), attention = config.CountLayers(BlockType.Attention);
        long perRecurrent = (long)config.ConvWidth * config.LruWidth;            // (Wc-1)*E conv + E for h
        long perAttention = 2L * config.AttentionWindow * config.NumKvHeads * config.HeadDim;
        return 4 * (recurrent * perRecurrent + attention * perAttention);
    }

    public long SizeInBytes => BytesFor(Config);

    /// <summary>Every array of the state in a fixed order (per layer: conv and RG-LRU state, or ring keys and values).</summary>
    internal IEnumerable<float[]> Arrays()
    {
        for (int i = 0; i < Conv.Length; i++)
        {
            if (Conv[i] is { } c) { yield return c; yield return Lru[i]!; }
            else { yield return RingKeys[i]!; yield return RingValues[i]!; }
        }
    }

    /// <summary>Makes this state an exact copy of another of the same config (a fork of a conversation).</summary>
    public void CopyFrom(SequenceState other)
    {
        if (other.Config != Config) throw new ArgumentException("states belong to different model configs", nameof(other));
        using var source = other.Arrays().GetEnumerator();
        foreach (var target in Arrays())
        {
            source.MoveNext();
            source.Current.CopyTo(target, 0);
        }
        Position = other.Position;
    }

    /// <summary>Back to a fresh segment: zero history, position 0.</summary>
    public void Reset()
    {
        foreach (var a in Conv) if (a is not null) Array.Clear(a);
        foreach (var a in Lru) if (a is not null) Array.Clear(a);
        // Ring slots are only read for positions already written in this segment, but clear them so no old data lingers.
        foreach (var a in RingKeys) if (a is not null) Array.Clear(a);
        foreach (var a in RingValues) if (a is not null) Array.Clear(a);
        Position = 0;
    }
}
