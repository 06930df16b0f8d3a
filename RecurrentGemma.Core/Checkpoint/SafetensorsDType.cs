namespace RecurrentGemma.Core.Checkpoint;

/// <summary>Element types of the safetensors format.</summary>
public enum SafetensorsDType
{
    Bool, U8, I8, F8E4M3, F8E5M2, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64,
}

public static class SafetensorsDTypes
{
    public static bool TryParse(string name, out SafetensorsDType dtype)
    {
        SafetensorsDType? found = name switch
        {
            "BOOL" => SafetensorsDType.Bool,
            "U8" => SafetensorsDType.U8,
            "I8" => SafetensorsDType.I8,
            "F8_E4M3" => SafetensorsDType.F8E4M3,
            "F8_E5M2" => SafetensorsDType.F8E5M2,
            "I16" => SafetensorsDType.I16,
            "U16" => SafetensorsDType.U16,
            "F16" => SafetensorsDType.F16,
            "BF16" => SafetensorsDType.BF16,
            "I32" => SafetensorsDType.I32,
            "U32" => SafetensorsDType.U32,
            "F32" => SafetensorsDType.F32,
            "I64" => SafetensorsDType.I64,
            "U64" => SafetensorsDType.U64,
            "F64" => SafetensorsDType.F64,
            _ => null,
        };
        dtype = found.GetValueOrDefault();
        return found.HasValue;
    }

    public static string Name(this SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.Bool => "BOOL",
        SafetensorsDType.F8E4M3 => "F8_E4M3",
        SafetensorsDType.F8E5M2 => "F8_E5M2",
        _ => dtype.ToString().ToUpperInvariant(),
    };

    public static int ElementSize(this SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.Bool or SafetensorsDType.U8 or SafetensorsDType.I8 or SafetensorsDType.F8E4M3 or SafetensorsDType.F8E5M2 => 1,
        SafetensorsDType.I16 or SafetensorsDType.U16 or SafetensorsDType.F16 or SafetensorsDType.BF16 => 2,
        SafetensorsDType.I32 or SafetensorsDType.U32 or SafetensorsDType.F32 => 4,
        _ => 8,
    };
}
