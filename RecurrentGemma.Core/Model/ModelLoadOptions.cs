using RecurrentGemma.Kernels.MatMul;

namespace RecurrentGemma.Core.Model;

/// <summary>How to open a model: threads, weight format and a progress callback.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Threads per forward pass, the caller's included; 0 = one per processor.</summary>
    public int Threads { get; init; }
    /// <summary>
    /// The format to hold the weights in: a Hugging Face checkpoint (bf16, f16 or f32) is converted or quantized at load;
    /// a packed folder (<see cref="Packed.PackedModel.Convert"/>) holds one format and must be opened as that (null: whatever the source is,
    /// bf16 for a checkpoint).
    /// </summary>
    public WeightFormat? Weights { get; init; }
    /// <summary>Called with the fraction of weights loaded (0..1).</summary>
    public Action<double>? Progress { get; init; }
}
