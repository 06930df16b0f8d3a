namespace RecurrentGemma.Core.Packed;

/// <summary>
/// What identifies a packed model file (<see cref="PackedModel.Convert"/>): a safetensors file whose <c>__metadata__</c> says
/// format = rgemma-packed, the layout version and the weight format. Each matrix is one U8 tensor holding the
/// kernels' packed bytes, named after the Hugging Face tensors it was built from ("a+b+c@q8" for stacked ones); the
/// small vectors keep their Hugging Face names as F32.
/// </summary>
public static class PackedLayout
{
    public const string FormatKey = "format", FormatValue = "rgemma-packed";
    public const string VersionKey = "layout_version", WeightsKey = "weights";
    /// <summary>
    /// Bump on any change to a packed matrix's bytes (panel width, block size, code order, scale type), so an old file
    /// is refused with a clear message instead of read as garbage.
    /// </summary>
    public const int Version = 1;
    /// <summary>Tensor data starts on a page boundary, so the mapped matrices are page-aligned (every packed size is a multiple of 64 bytes).</summary>
    public const int DataAlignment = 4096;

    /// <summary>The tensor name of the matrix built from <paramref name="names"/> in matrix format <paramref name="format"/>.</summary>
    public static string MatrixName(IEnumerable<string> names, Kernels.MatMul.MatrixFormat format) =>
        string.Join("+", names) + "@" + format.ToString().ToLowerInvariant();

    public static bool IsPacked(IReadOnlyDictionary<string, string> metadata) =>
        metadata.TryGetValue(FormatKey, out var f) && f == FormatValue;
}
