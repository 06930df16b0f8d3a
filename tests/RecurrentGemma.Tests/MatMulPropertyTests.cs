using FsCheck.Xunit;
using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Parallel;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>
/// The packed bf16 matmul at every width this CPU runs, with and without worker threads, against the plain scalar loop
/// on the unpacked weights: acc = fma(x[k], w[o, k], acc) in k order, then + bias. The contract is bit-for-bit equality
/// (so a row's result never depends on the batch around it); shapes cover 1..20 rows (every tile height and several
/// tiles), one and two rows through the four-panel decode tile, partial panels and input widths not divisible by any
/// vector width.
/// </summary>
public class MatMulPropertyTests
{
    static readonly WorkerPool Pool3 = new(3);

    static float[] Floats(Random rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    static ushort[] Bf16s(Random rng, int n)
    {
        var a = new ushort[n];
        for (int i = 0; i < n; i++) a[i] = Bf16.FromFloat((float)(rng.NextDouble() * 2 - 1));
        return a;
    }

    /// <summary>The scalar definition, on W[g, o, k] = w[g*groupStride + o*outStride + k*inStride].</summary>
    static float[] Reference(float[] x, int rows, ushort[] w, int groups, int outPer, int inPer, long gs, long os, long ks, float[]? bias)
    {
        int outDim = groups * outPer, inDim = groups * inPer;
        var y = new float[rows * outDim];
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < groups; g++)
                for (int o = 0; o < outPer; o++)
                {
                    float acc = 0;
                    for (int k = 0; k < inPer; k++)
                        acc = MathF.FusedMultiplyAdd(x[r * inDim + g * inPer + k], Bf16.ToFloat(w[g * gs + o * os + k * ks]), acc);
                    y[r * outDim + g * outPer + o] = acc + (bias?[g * outPer + o] ?? 0f);
                }
        return y;
    }

    static void AllPathsEqual(float[] x, int rows, PackedBf16Matrix packed, float[]? bias, float[] expected)
    {
        foreach (var width in Simd.Supported)
            foreach (var pool in new[] { null, Pool3 })
            {
                var y = new float[rows * packed.OutDim];
                MatMulBf16.Multiply(x, rows, packed, bias, y, pool, width);
                for (int i = 0; i < y.Length; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(y[i]),
                        $"{width}, pool {pool?.Threads ?? 1}: y[{i}] = {y[i]}, expected {expected[i]}");
            }
    }

    [Property(MaxTest = 60)]
    public void Dense_matmul_equals_scalar_loop_bit_for_bit(byte rowsRaw, byte inRaw, byte outRaw, bool withBias, int seed)
    {
        int rows = 1 + rowsRaw % 20, inDim = 1 + inRaw % 100, outDim = 1 + outRaw;   // up to 8 panels: the 4-panel decode tile runs too; 9-20 rows take two 8-row tiles
        var rng = new Random(seed);
        var x = Floats(rng, rows * inDim);
        var w = Bf16s(rng, outDim * inDim);
        float[]? bias = withBias ? Floats(rng, outDim) : null;
        using var packed = PackedBf16Matrix.Pack(w, outDim, inDim);
        var expected = Reference(x, rows, w, 1, outDim, inDim, 0, inDim, 1, bias);
        AllPathsEqual(x, rows, packed, bias, expected);
        // And the scalar definition itself agrees with double-precision arithmetic.
        var exact = ReferenceKernels.MatMul(x, rows, w, outDim, bias);
        for (int i = 0; i < exact.Length; i++) Assert.True(Math.Abs(exact[i] - expected[i]) <= 1e-5 * Math.Sqrt(inDim) * (1 + Math.Abs(exact[i])));
    }

    [Property(MaxTest = 40)]
    public void Block_diagonal_matmul_equals_scalar_loop_bit_for_bit(byte blocksRaw, byte widthRaw, byte rowsRaw, int seed)
    {
        // The RG-LRU gate layout: blocks stored [block, in, out].
        int blocks = 1 + blocksRaw % 4, rows = 1 + rowsRaw % 11;
        int bw = widthRaw < 200 ? 1 + widthRaw % 40 : 128 + widthRaw % 9, dim = blocks * bw;   // >= 128: 4-panel tiles inside a block
        var rng = new Random(seed);
        var x = Floats(rng, rows * dim);
        var w = Bf16s(rng, blocks * bw * bw);
        var bias = Floats(rng, dim);
        using var packed = PackedBf16Matrix.Pack(w, blocks, bw, bw, groupStride: bw * bw, outStride: 1, inStride: bw);
        AllPathsEqual(x, rows, packed, bias, Reference(x, rows, w, blocks, bw, bw, bw * bw, 1, bw, bias));
    }

    [Theory]
    [InlineData(1, 1, 300, 67)]      // decode shapes: 9 full panels (two 4-panel tiles) + a partial one
    [InlineData(2, 1, 256, 130)]
    [InlineData(3, 1, 200, 70)]      // small batches: the 8-row tile (and a partial panel)
    [InlineData(4, 2, 96, 40)]
    [InlineData(7, 1, 128, 29)]
    [InlineData(30, 1, 96, 21)]
    [InlineData(8, 1, 70, 16)]
    [InlineData(1, 3, 256, 256)]     // RG-LRU gate shape: 3 blocks of 256 = 8 panels each
    [InlineData(9, 2, 160, 33)]
    public void Decode_and_gate_shapes_equal_scalar_loop(int rows, int groups, int outPer, int inPer)
    {
        var rng = new Random(rows * 1000 + outPer);
        var x = Floats(rng, rows * groups * inPer);
        var w = Bf16s(rng, groups * outPer * inPer);
        var bias = Floats(rng, groups * outPer);
        using var packed = PackedBf16Matrix.Pack(w, groups, outPer, inPer, groupStride: (long)outPer * inPer, outStride: inPer, inStride: 1);
        AllPathsEqual(x, rows, packed, bias, Reference(x, rows, w, groups, outPer, inPer, (long)outPer * inPer, inPer, 1, bias));
        AllPathsEqual(x, rows, packed, null, Reference(x, rows, w, groups, outPer, inPer, (long)outPer * inPer, inPer, 1, null));
    }

    [Property(MaxTest = 30)]
    public void Packing_keeps_every_weight_and_rows_read_back(byte outRaw, byte inRaw, int seed)
    {
        int outDim = 1 + outRaw % 70, inDim = 1 + inRaw % 50;
        var w = Bf16s(new Random(seed), outDim * inDim);
        using var packed = PackedBf16Matrix.Pack(w, outDim, inDim);
        using var generated = PackedBf16Matrix.Create(outDim, inDim, (o, row) => w.AsSpan(o * inDim, inDim).CopyTo(row), Pool3);
        var row = new float[inDim];
        for (int o = 0; o < outDim; o++)
        {
            packed.ReadRow(o, row);
            for (int k = 0; k < inDim; k++)
            {
                Assert.Equal(w[o * inDim + k], packed.Get(0, o, k));
                Assert.Equal(w[o * inDim + k], generated.Get(0, o, k));
                Assert.Equal(Bf16.ToFloat(w[o * inDim + k]), row[k]);
            }
        }
    }

    [Fact]
    public void Shape_mismatches_are_rejected()
    {
        using var packed = PackedBf16Matrix.Pack(new ushort[12], 3, 4);
        Assert.Throws<ArgumentException>(() => MatMulBf16.Multiply(new float[7], 2, packed, default, new float[6]));
        Assert.Throws<ArgumentException>(() => MatMulBf16.Multiply(new float[8], 2, packed, default, new float[5]));
        Assert.Throws<ArgumentException>(() => MatMulBf16.Multiply(new float[8], 2, packed, new float[2], new float[6]));
        Assert.Throws<ArgumentException>(() => PackedBf16Matrix.Pack(new ushort[11], 3, 4));
    }
}
