using System.Runtime.InteropServices;
using RecurrentGemma.Core.Model;

namespace RecurrentGemma.Native;

/// <summary>rg_model_options, field for field (include/recurrentgemma.h). <see cref="Size"/> lets the struct grow later.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct ModelOptions
{
    public uint Size;
    public int Threads;
    /// <summary>rg_weights: 0 as stored, 1 bf16, 2 q8, 3 q4.</summary>
    public int Weights;

    public static ModelOptions Defaults() => new() { Size = (uint)Marshal.SizeOf<ModelOptions>(), Threads = 0, Weights = 0 };

    /// <summary>Checked; messages name the struct field and its accepted values.</summary>
    public readonly ModelLoadOptions ToLoadOptions(string function)
    {
        if (Size != (uint)Marshal.SizeOf<ModelOptions>())
            throw new AbiArgumentException($"{function}: options->size is {Size}; expected sizeof(rg_model_options) = {Marshal.SizeOf<ModelOptions>()} (call rg_model_options_init first)");
        if (Threads < 0) throw new AbiArgumentException($"{function}: options->threads is {Threads}; expected 0 (one per processor) or more");
        WeightFormat? weights = Weights switch
        {
            0 => null,
            1 => WeightFormat.Bf16,
            2 => WeightFormat.Q8,
            3 => WeightFormat.Q4,
            _ => throw new AbiArgumentException($"{function}: options->weights is {Weights}; expected RG_WEIGHTS_AS_STORED (0), RG_WEIGHTS_BF16 (1), RG_WEIGHTS_Q8 (2) or RG_WEIGHTS_Q4 (3)"),
        };
        return new ModelLoadOptions { Threads = Threads, Weights = weights };
    }
}
