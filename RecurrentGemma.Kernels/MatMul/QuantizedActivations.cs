using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using RecurrentGemma.Kernels.Memory;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// The input rows of a quantized matmul as int8: per row and per 32-block, q = round(x * 127 / max|x|) in [-127, 127],
/// with the block's scale max|x| / 127 and the sum of its codes (the offset correction). Row-local by construction, so
/// a row's codes never depend on the rows beside it. One buffer per calling thread, grown on demand and then reused:
/// nothing is allocated per token.
/// </summary>
internal sealed unsafe class QuantizedActivations
{
    public const int BlockSize = 32;

    [ThreadStatic] static QuantizedActivations? t_current;
    public static QuantizedActivations ForThisThread => t_current ??= new QuantizedActivations();

    byte* _memory;
    long _capacity;

    public sbyte* Codes { get; private set; }
    public float* Scales { get; private set; }
    public int* Sums { get; private set; }
    public int Blocks { get; private set; }
    /// <summary>Bytes per row of <see cref="Codes"/> (Blocks * 32, zero-padded).</summary>
    public int Stride => Blocks * BlockSize;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // per matmul: never run tier-0 code
    public void Quantize(float* x, int rows, int inDim, long ldx)
    {
        Blocks = (inDim + BlockSize - 1) / BlockSize;
        long codeBytes = (long)rows * Stride, metaBytes = (long)rows * Blocks * sizeof(float);
        long need = codeBytes + 2 * metaBytes + 64;
        if (need > _capacity)
        {
            if (_memory != null) NativeBuffer.Free(_memory);
            _capacity = Math.Max(need, _capacity * 2);
            _memory = (byte*)NativeBuffer.Allocate(_capacity);
        }
        Codes = (sbyte*)_memory;
        Scales = (float*)(_memory + (codeBytes + 63) / 64 * 64);
        Sums = (int*)(Scales + (long)rows * Blocks);
        float* padded = stackalloc float[BlockSize];
        for (int r = 0; r < rows; r++)
        {
            float* row = x + r * ldx;
            for (int b = 0; b < Blocks; b++)
            {
                int n = Math.Min(BlockSize, inDim - b * BlockSize);
                float* block = row + b * BlockSize;
                if (n < BlockSize)
                {
                    new Span<float>(padded, BlockSize).Clear();
                    new Span<float>(block, n).CopyTo(new Span<float>(padded, n));
                    block = padded;
                }
                long at = (long)r * Blocks + b;
                Sums[at] = Block(block, Codes + (long)r * Stride + b * BlockSize, out Scales[at], BlockQuantizer.Vectorized);
            }
        }
    }

    /// <summary>One block: writes 32 codes, returns their sum; the scalar and vector paths give the same codes (tested).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int Block(float* x, sbyte* codes, out float scale, bool vectorized)
    {
        float max = 0;
        int sum = 0;
        if (vectorized)
        {
            var m = Vector256.Max(Vector256.Max(Vector256.Abs(Vector256.Load(x)), Vector256.Abs(Vector256.Load(x + 8))),
                                  Vector256.Max(Vector256.Abs(Vector256.Load(x + 16)), Vector256.Abs(Vector256.Load(x + 24))));
            for (int l = 0; l < 8; l++) max = MathF.Max(max, m[l]);
            scale = max / 127f;
            var inv = Vector256.Create(max > 0 ? 127f / max : 0f);
            var total = Vector256<int>.Zero;
            for (int i = 0; i < BlockSize; i += 16)
            {
                var a = Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i) * inv));
                var b = Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i + 8) * inv));
                total += a + b;
                var shorts = Vector256.Narrow(a, b);
                Vector128.Narrow(shorts.GetLower(), shorts.GetUpper()).Store(codes + i);
            }
            return Vector256.Sum(total);
        }
        for (int i = 0; i < BlockSize; i++) max = MathF.Max(max, MathF.Abs(x[i]));
        scale = max / 127f;
        float inverse = max > 0 ? 127f / max : 0f;
        for (int i = 0; i < BlockSize; i++)
        {
            int q = (int)MathF.Round(x[i] * inverse);
            codes[i] = (sbyte)q;
            sum += q;
        }
        return sum;
    }
}
