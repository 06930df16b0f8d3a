namespace RecurrentGemma.Core.Model;

/// <summary>
/// How a loaded model holds its weights (README, "Weight formats"). Each format is a policy over the kernels' matrix
/// layouts (<see cref="ModelWeights.DenseFormat"/>): q8 and q4 keep the small RG-LRU gates in bf16.
/// </summary>
public enum WeightFormat
{
    /// <summary>bfloat16, the checkpoints' own precision: 16 bits a weight.</summary>
    Bf16,
    /// <summary>int8 with one bf16 scale per 32 weights: 8.5 bits a weight.</summary>
    Q8,
    /// <summary>4-bit with one bf16 scale per 32 weights: 4.5 bits a weight.</summary>
    Q4,
}

public static class WeightFormats
{
    public const string Accepted = "bf16, q8 or q4";

    /// <summary>The spelling in flags, options, JSON and packed files: bf16, q8, q4.</summary>
    public static string Name(this WeightFormat format) => format switch
    {
        WeightFormat.Bf16 => "bf16",
        WeightFormat.Q8 => "q8",
        WeightFormat.Q4 => "q4",
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "unknown weight format"),
    };

    public static bool TryParse(string? text, out WeightFormat format)
    {
        switch (text)
        {
            case "bf16": format = WeightFormat.Bf16; return true;
            case "q8": format = WeightFormat.Q8; return true;
            case "q4": format = WeightFormat.Q4; return true;
            default: format = default; return false;
        }
    }
}
