using System.Runtime.InteropServices;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Core.Sampling;

namespace RecurrentGemma.Native;

/// <summary>rg_sampling_params, field for field (include/recurrentgemma.h). <see cref="Size"/> lets the struct grow later.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SamplingParams
{
    public uint Size;
    public float Temperature;
    public int TopK;
    public float TopP;
    public float MinP;
    public float RepeatPenalty;
    public float PresencePenalty;
    public int MaxTokens;
    public ulong Seed;

    public static SamplingParams Defaults()
    {
        var d = SamplingParameters.Greedy;
        return new SamplingParams
        {
            Size = (uint)Marshal.SizeOf<SamplingParams>(),
            Temperature = d.Temperature, TopK = d.TopK, TopP = d.TopP, MinP = d.MinP,
            RepeatPenalty = d.RepetitionPenalty, PresencePenalty = d.PresencePenalty, MaxTokens = d.MaxTokens, Seed = d.Seed,
        };
    }

    /// <summary>Checked like the CLI's flags; messages name the struct field.</summary>
    public readonly SamplingParameters ToParameters(string function)
    {
        if (Size != (uint)Marshal.SizeOf<SamplingParams>())
            throw new AbiArgumentException($"{function}: params->size is {Size}; expected sizeof(rg_sampling_params) = {Marshal.SizeOf<SamplingParams>()} (call rg_sampling_params_init first)");
        var p = new SamplingParameters
        {
            Temperature = Temperature, TopK = TopK, TopP = TopP, MinP = MinP,
            RepetitionPenalty = RepeatPenalty, PresencePenalty = PresencePenalty, MaxTokens = MaxTokens, Seed = Seed,
        };
        try
        {
            return p.Validate();
        }
        catch (SamplingParameterException e)
        {
            throw new AbiArgumentException($"{function}: params->{Field(e.Parameter)}: {e.Problem}");   // the struct field, not the CLI flag
        }
    }

    /// <summary>The rg_sampling_params field of a <see cref="SamplingParameters"/> property.</summary>
    static string Field(string parameter) => parameter switch
    {
        nameof(SamplingParameters.MaxTokens) => "max_tokens",
        nameof(SamplingParameters.Temperature) => "temperature",
        nameof(SamplingParameters.TopK) => "top_k",
        nameof(SamplingParameters.TopP) => "top_p",
        nameof(SamplingParameters.MinP) => "min_p",
        nameof(SamplingParameters.RepetitionPenalty) => "repeat_penalty",
        nameof(SamplingParameters.PresencePenalty) => "presence_penalty",
        nameof(SamplingParameters.Seed) => "seed",
        _ => parameter,
    };
}

/// <summary>rg_usage: what one generate call did.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Usage
{
    public int PromptTokens;
    public int GeneratedTokens;
    public int StopReason;
    public double PrefillSeconds;
    public double DecodeSeconds;
}
