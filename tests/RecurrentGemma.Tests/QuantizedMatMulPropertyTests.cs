using FsCheck.Xunit;
using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Parallel;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>
/// The q8 and q4 matmuls on every integer path this CPU runs (<see cref="Int8Paths.Checkable"/>: the supported ones and
/// ARM64's SDOT path, emulated exactly where the CPU lacks it), with and without
/// worker threads, against a plain reference written from the format's definition: the weight codes and scales read
/// back one by one, the activations quantized per row and block by the scalar rule, exact integer dot products per
/// block, y = fma(float(dot), xs * ws, y) in block order, + bias. The contract is bit-for-bit equality, on shapes with
/// ragged K (not a multiple of 32), partial panels and 1-20 rows (every tile height, several tiles).
/// </summary>
public unsafe class QuantizedMatMulPropertyTests
{
    static readonly WorkerPool Pool3 = new(3);
    static readonly MatrixFormat[] Formats = [MatrixFormat.Q8, MatrixFormat.Q4];

    static float[] Floats(Random rng, int n, float scale = 1f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    static float[] Reference(float[] x, int rows, PackedQuantMatrix w, float[]? bias)
    {
        int inDim = w.InDim, outDim = w.OutDim, blocks = (inDim + 31) / 32;
        var y = new float[rows * outDim];
        var codes = new sbyte[32];
        var padded = new float[32];
        for (int r = 0; r < rows; r++)
            for (int b = 0; b < blocks; b++)
            {
                Array.Clear(padded);
                for (int j = 0; j < 32 && b * 32 + j < inDim; j++) padded[j] = x[r * inDim + b * 32 + j];
                float max = 0;
                foreach (float v in padded) max = MathF.Max(max, MathF.Abs(v));
                float xs = max / 127f, inverse = max > 0 ? 127f / max : 0f;
                for (int j = 0; j < 32; j++) codes[j] = (sbyte)(int)MathF.Round(padded[j] * inverse);
                for (int o = 0; o < outDim; o++)
                {
                    int dot = 0;
                    float ws = 0;
                    for (int j = 0; j < 32 && b * 32 + j < inDim; j++)
                    {
                        var (code, scale) = w.Get(o, b * 32 + j);
                        dot += (code - w.Offset) * codes[j];
                        ws = scale;
                    }
                    y[r * outDim + o] = MathF.FusedMultiplyAdd(dot, xs * ws, y[r * outDim + o]);
                }
            }
        if (bias != null)
            for (int r = 0; r < rows; r++)
                for (int o = 0; o < outDim; o++) y[r * outDim + o] += bias[o];
        return y;
    }

    static void AllPathsEqual(float[] x, int rows, PackedQuantMatrix w, float[]? bias, float[] expected)
    {
        foreach (var path in Int8Paths.Checkable)
            foreach (var pool in new[] { null, Pool3 })
            {
                var y = new float[rows * w.OutDim];
                MatMulQuantized.Multiply(x, rows, w, bias, y, pool, path);
                for (int i = 0; i < y.Length; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(y[i]),
                        $"{w.Format} {path}, pool {pool?.Threads ?? 1}: y[{i}] = {y[i]}, expected {expected[i]}");
            }
    }

    [Property(MaxTest = 40)]
    public void Quantized_matmul_equals_reference_bit_for_bit(byte rowsRaw, byte inRaw, byte outRaw, bool withBias, int seed)
    {
        int rows = rowsRaw % 3 == 0 ? 1 : 1 + rowsRaw % 20, inDim = 1 + inRaw % 150, outDim = 1 + outRaw;   // a third single rows: the decode tile over 4 panels (128+ columns)
        var rng = new Random(seed);
        var wf = Floats(rng, outDim * inDim);
        var x = Floats(rng, rows * inDim, 4f);
        float[]? bias = withBias ? Floats(rng, outDim) : null;
        foreach (var format in Formats)
        {
            using var w = PackedQuantMatrix.Quantize(format, outDim, inDim, (o, row) => wf.AsSpan(o * inDim, inDim).CopyTo(row), Pool3);
            AllPathsEqual(x, rows, w, bias, Reference(x, rows, w, bias));
        }
    }

    [Property(MaxTest = 30)]
    public void Codes_reconstruct_the_weights_within_half_a_step(byte inRaw, byte outRaw, int seed)
    {
        int inDim = 1 + inRaw % 100, outDim = 1 + outRaw % 70;
        var rng = new Random(seed);
        var wf = Floats(rng, outDim * inDim, 3f);
        foreach (var format in Formats)
        {
            using var w = PackedQuantMatrix.Quantize(format, outDim, inDim, (o, row) => wf.AsSpan(o * inDim, inDim).CopyTo(row));
            var row = new float[inDim];
            for (int o = 0; o < outDim; o++)
            {
                w.ReadRow(o, row);
                for (int k = 0; k < inDim; k++)
                {
                    var (code, scale) = w.Get(o, k);
                    Assert.Equal((code - w.Offset) * scale, row[k]);
                    // Half a step, plus the bf16 scale's rounding at the clamped end of the range (at most 1/256 of the
                    // largest); q4's top code (15, i.e. +7 steps on the side opposite the extreme) may clamp by up to a step.
                    float step = MathF.Abs(scale);
                    float tolerance = (format == MatrixFormat.Q4 && code == 15 ? step : step / 2) + MathF.Abs(wf[o * inDim + k]) / 128 + 1e-7f;
                    Assert.True(MathF.Abs(row[k] - wf[o * inDim + k]) <= tolerance, $"{format} W[{o},{k}] = {wf[o * inDim + k]} read back {row[k]} (step {step})");
                }
            }
        }
    }

    [Property(MaxTest = 200)]
    public void Vector_quantizers_equal_scalar_ones(int seed, byte scaleRaw, byte zeros)
    {
        var rng = new Random(seed);
        var w = Floats(rng, 32, 1 + scaleRaw);
        for (int i = 0; i < zeros % 40 && i < 32; i++) w[rng.Next(32)] = 0;
        if (zeros % 13 == 0) Array.Clear(w);
        byte* a = stackalloc byte[32], b = stackalloc byte[32];
        fixed (float* p = w)
        {
            Assert.Equal(BlockQuantizer.Q8(p, a, false), BlockQuantizer.Q8(p, b, true));
            Assert.True(new Span<byte>(a, 32).SequenceEqual(new Span<byte>(b, 32)));
            Assert.Equal(BlockQuantizer.Q4(p, a, false), BlockQuantizer.Q4(p, b, true));
            Assert.True(new Span<byte>(a, 32).SequenceEqual(new Span<byte>(b, 32)));
            sbyte* c = stackalloc sbyte[32], d = stackalloc sbyte[32];
            Assert.Equal(QuantizedActivations.Block(p, c, out float s1, false), QuantizedActivations.Block(p, d, out float s2, true));
            Assert.Equal(s1, s2);
            Assert.True(new Span<sbyte>(c, 32).SequenceEqual(new Span<sbyte>(d, 32)));
        }
    }

    [Fact]
    public void Batched_rows_equal_each_row_alone()
    {
        var rng = new Random(7);
        int inDim = 300, outDim = 75, rows = 13;
        var wf = Floats(rng, outDim * inDim);
        var x = Floats(rng, rows * inDim);
        foreach (var format in Formats)
        {
            using var w = PackedQuantMatrix.Quantize(format, outDim, inDim, (o, row) => wf.AsSpan(o * inDim, inDim).CopyTo(row));
            var all = new float[rows * outDim];
            w.Multiply(x, rows, default, all, Pool3);
            for (int r = 0; r < rows; r++)
            {
                var one = new float[outDim];
                w.Multiply(x.AsSpan(r * inDim, inDim), 1, default, one, null);
                Assert.Equal(one, all.AsSpan(r * outDim, outDim).ToArray());
            }
        }
    }

    [Fact]
    public void Bad_shapes_are_refused()
    {
        using var w = PackedQuantMatrix.Quantize(MatrixFormat.Q8, 3, 4, (o, row) => row.Fill(o));
        Assert.Throws<ArgumentException>(() => w.Multiply(new float[7], 2, default, new float[6], null));
        Assert.Throws<ArgumentException>(() => w.Multiply(new float[8], 2, default, new float[5], null));
        Assert.Throws<ArgumentException>(() => w.Multiply(new float[8], 2, new float[2], new float[6], null));
        Assert.Throws<ArgumentOutOfRangeException>(() => w.ReadRow(3, new float[4]));
    }
}
