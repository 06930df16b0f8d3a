using RecurrentGemma.Core.Config;

namespace RecurrentGemma.Core.Model;

/// <summary>Gated MLP: down(gelu(gate(u)) * up(u)).</summary>
public sealed class MlpWeights
{
    public required Bf16Matrix Gate { get; init; }
    public required float[] GateBias { get; init; }
    public required Bf16Matrix Up { get; init; }
    public required float[] UpBias { get; init; }
    public required Bf16Matrix Down { get; init; }
    public required float[] DownBias { get; init; }
}

/// <summary>Griffin recurrent block: linear_y / linear_x, causal conv, RG-LRU, linear_out.</summary>
public sealed class RecurrentWeights
{
    public required Bf16Matrix LinearX { get; init; }
    public required float[] LinearXBias { get; init; }
    public required Bf16Matrix LinearY { get; init; }
    public required float[] LinearYBias { get; init; }
    public required Bf16Matrix LinearOut { get; init; }
    public required float[] LinearOutBias { get; init; }
    /// <summary>Conv taps, tap-major [Wc, E] (repacked from HF's [E, 1, Wc] so the kernel runs over channels).</summary>
    public required float[] ConvWeight { get; init; }
    public required float[] ConvBias { get; init; }
    /// <summary>[nh, bw, bw] indexed [block, in, out], stored as a (nh*bw) x bw matrix.</summary>
    public required Bf16Matrix InputGate { get; init; }
    public required float[] InputGateBias { get; init; }
    public required Bf16Matrix RecurrentGate { get; init; }
    public required float[] RecurrentGateBias { get; init; }
    /// <summary>-8 softplus(recurrent_param): log_a = Decay * sigmoid(gate_a).</summary>
    public required float[] Decay { get; init; }
}

/// <summary>Local multi-query attention: q has nh heads, k and v one shared head; o_proj has a bias.</summary>
public sealed class AttentionWeights
{
    public required Bf16Matrix Query { get; init; }
    public required Bf16Matrix Key { get; init; }
    public required Bf16Matrix Value { get; init; }
    public required Bf16Matrix Output { get; init; }
    public required float[] OutputBias { get; init; }
}

/// <summary>One residual layer. Norm scales hold (1 + w), folded once at load.</summary>
public sealed class LayerWeights
{
    public required BlockType Type { get; init; }
    public required float[] TemporalNormScale { get; init; }
    public required float[] ChannelNormScale { get; init; }
    public RecurrentWeights? Recurrent { get; init; }
    public AttentionWeights? Attention { get; init; }
    public required MlpWeights Mlp { get; init; }
}
