namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// The layout of one packed matrix (what its bytes hold). A model's weight format (the library's <c>MatrixFormat</c>)
/// is a policy over these: which matrix gets which, as llama.cpp's file types are over its tensor types.
/// </summary>
public enum MatrixFormat
{
    /// <summary>bfloat16 panels, 16 bits a weight (<see cref="PackedBf16Matrix"/>).</summary>
    Bf16,
    /// <summary>int8 codes with one bf16 scale per 32 weights along K, 8.5 bits a weight (<see cref="PackedQuantMatrix"/>).</summary>
    Q8,
    /// <summary>4-bit codes with one bf16 scale per 32 weights along K, 4.5 bits a weight (<see cref="PackedQuantMatrix"/>).</summary>
    Q4,
}
