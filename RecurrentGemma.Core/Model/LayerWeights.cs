using RecurrentGemma.Core.Config;
using RecurrentGemma.Kernels.MatMul;

namespace RecurrentGemma.Core.Model;

/// <summary>Gated MLP: down(gelu(gate(u)) * up(u)). Gate and up read the same input, so they are one stacked matrix.</summary>
public sealed class MlpWeights
{
    /// <summary>[2M, H]: gate_proj rows, then up_proj rows.</summary>
    public required PackedMatrix GateUp { get; init; }
    public required float[] GateUpBias { get; init; }
    public required PackedMatrix Down { get; init; }
    public required float[] DownBias { get; init; }
}

/// <summary>Griffin recurrent block: linear_y / linear_x, causal conv, RG-LRU, linear_out.</summary>
public sealed class RecurrentWeights
{
    /// <summary>[2E, H]: linear_y rows, then linear_x rows (both read the block input).</summary>
    public required PackedMatrix LinearYX { get; init; }
    public required float[] LinearYXBias { get; init; }
    public required PackedMatrix LinearOut { get; init; }
    public required float[] LinearOutBias { get; init; }
    /// <summary>Conv taps, tap-major [Wc, E] (repacked from HF's [E, 1, Wc] so the kernel runs over channels).</summary>
    public required float[] ConvWeight { get; init; }
    public required float[] ConvBias { get; init; }
    /// <summary>Block-diagonal: one [bw, bw] block per head (HF stores [block, in, out]).</summary>
    public required PackedMatrix InputGate { get; init; }
    public required float[] InputGateBias { get; init; }
    public required PackedMatrix RecurrentGate { get; init; }
    public required float[] RecurrentGateBias { get; init; }
    /// <summary>-8 softplus(recurrent_param): log_a = Decay * sigmoid(gate_a).</summary>
    public required float[] Decay { get; init; }
}

/// <summary>Local multi-query attention: q has nh heads, k and v one shared head; o_proj has a bias.</summary>
public sealed class AttentionWeights
{
    /// <summary>[nh*hd + 2*hd, H]: q_proj, k_proj and v_proj rows stacked (no biases).</summary>
    public required PackedMatrix QueryKeyValue { get; init; }
    public required PackedMatrix Output { get; init; }
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
