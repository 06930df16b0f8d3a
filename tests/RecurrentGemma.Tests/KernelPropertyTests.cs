using System.Numerics.Tensors;
using FsCheck.Xunit;
using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.Operators;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>
/// Every kernel at every width this CPU runs (Scalar, 128, 256, 512) against a naive double-precision reference, on
/// random shapes that include lengths not divisible by any vector width.
/// </summary>
public class KernelPropertyTests
{
    static readonly Kernels.Parallel.WorkerPool Pool3 = new(3);

    static float[] Floats(Random rng, int n, float scale = 1f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    static ushort[] Bf16s(Random rng, int n, float scale = 1f)
    {
        var a = new ushort[n];
        for (int i = 0; i < n; i++) a[i] = Bf16.FromFloat((float)(rng.NextDouble() * 2 - 1) * scale);
        return a;
    }

    static void Close(double[] expected, ReadOnlySpan<float> actual, double tol, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(expected[i] - actual[i]);
            Assert.True(err <= tol * (1 + Math.Abs(expected[i])), $"{what}[{i}]: expected {expected[i]}, got {actual[i]} (err {err})");
        }
    }

    [Property(MaxTest = 60)]
    public void Unary_and_binary_operators_match_reference(byte lengthRaw, int seed)
    {
        int n = lengthRaw % 70;
        var rng = new Random(seed);
        var x = Floats(rng, n, 8);
        var b = Floats(rng, n, 3);
        foreach (var w in Simd.Supported)
        {
            var y = new float[n];
            Elementwise.Map(new GeluTanhOperator(), x, y, w);
            Close(Array.ConvertAll(x, v => ReferenceKernels.Gelu(v)), y, 2e-6, $"gelu {w}");
            Elementwise.Map(new SoftCapOperator(5f), x, y, w);
            Close(Array.ConvertAll(x, v => 5 * Math.Tanh(v / 5.0)), y, 2e-6, $"softcap {w}");
            Elementwise.Map(new GeluTanhMultiplyOperator(), x, b, y, w);
            Close(Enumerable.Range(0, n).Select(i => ReferenceKernels.Gelu(x[i]) * b[i]).ToArray(), y, 2e-6, $"gelu*up {w}");
            Elementwise.Map(new KeepAtLeastOperator(0.5f, -1f), x, y, w);
            Close(Array.ConvertAll(x, v => v >= 0.5f ? (double)v : -1.0), y, 0, $"keep-at-least {w}");
            var inPlace = (float[])x.Clone();
            Elementwise.Map(new SoftCapOperator(5f), inPlace, inPlace, w);
            Close(Array.ConvertAll(x, v => 5 * Math.Tanh(v / 5.0)), inPlace, 2e-6, $"softcap in place {w}");
            Elementwise.Map(new SigmoidOperator(), x, y, w);
            Close(Array.ConvertAll(x, v => 1 / (1 + Math.Exp(-v))), y, 2e-7, $"sigmoid {w}");
        }
    }

    [Property(MaxTest = 40)]
    public void Operators_over_rows_in_parallel_equal_each_row_alone(byte rowsRaw, byte widthRaw, int seed)
    {
        // The MLP's layout: row r is [gate | up]; the recurrent block's: [y | x].
        int rows = 1 + rowsRaw % 30, width = 1 + widthRaw % 70, stride = 2 * width + 3;
        var source = Floats(new Random(seed), rows * stride, 4);
        var binaryAlone = new float[rows * width];
        var unaryAlone = new float[rows * width];
        for (int r = 0; r < rows; r++)
        {
            Elementwise.Map(new GeluTanhMultiplyOperator(), source.AsSpan(r * stride, width), source.AsSpan(r * stride + width, width), binaryAlone.AsSpan(r * width, width));
            Elementwise.Map(new GeluTanhOperator(), source.AsSpan(r * stride + 1, width), unaryAlone.AsSpan(r * width, width));
        }
        var binary = new float[rows * width];
        var unary = new float[rows * width];
        Elementwise.MapRows(new GeluTanhMultiplyOperator(), source, stride, 0, width, width, binary, width, rows, Pool3);
        Elementwise.MapRows(new GeluTanhOperator(), source, stride, 1, width, unary, width, rows, Pool3);
        Assert.Equal(binaryAlone, binary);
        Assert.Equal(unaryAlone, unary);
        Assert.Throws<ArgumentException>(() => Elementwise.MapRows(new GeluTanhOperator(), source, stride, stride - width + 1, width, unary, width, rows, Pool3));
    }

    [Property(MaxTest = 20)]
    public void One_long_span_split_across_the_pool_equals_it_mapped_alone(int seed)
    {
        // The logits' soft-cap: chunks across the pool plus a ragged tail on the caller, in place as the model runs it.
        // Lengths up to six chunks, most of them long enough to split (two chunks or more).
        var rng = new Random(seed);
        int n = rng.Next(6 * Elementwise.ChunkElements);
        var x = Floats(rng, n, 40);
        var alone = new float[n];
        Elementwise.Map(new SoftCapOperator(30f), x, alone);
        var split = (float[])x.Clone();
        Elementwise.Map(new SoftCapOperator(30f), split, split, Pool3);
        Assert.Equal(alone, split);
        Assert.Throws<ArgumentException>(() => Elementwise.Map(new SoftCapOperator(30f), new float[n + 1], new float[n], Pool3));
    }

    [Property(MaxTest = 60)]
    public void Element_results_do_not_depend_on_position_or_length(byte lengthRaw, byte offsetRaw, int seed)
    {
        // The property batched == alone rests on: an element's value depends only on its input.
        int n = 1 + lengthRaw % 50, offset = offsetRaw % 17;
        var x = Floats(new Random(seed), n + offset, 6);
        foreach (var w in Simd.Supported)
        {
            var whole = new float[n + offset];
            Elementwise.Map(new GeluTanhOperator(), x, whole, w);
            var part = new float[n];
            Elementwise.Map(new GeluTanhOperator(), x.AsSpan(offset, n), part, w);
            Assert.Equal(whole.AsSpan(offset, n).ToArray(), part);
        }
    }

    [Property(MaxTest = 40)]
    public void Rms_norm_matches_reference(byte rowsRaw, byte dimRaw, int seed)
    {
        int rows = 1 + rowsRaw % 40, d = 1 + dimRaw % 90;   // up to 40 rows: the pooled path splits them
        var rng = new Random(seed);
        var x = Floats(rng, rows * d, 4);
        var scale = Floats(rng, d);
        double[] expected = ReferenceKernels.RmsNorm(x, scale, 1e-6f, rows);
        foreach (var w in Simd.Supported)
        {
            var y = new float[rows * d];
            RmsNorm.Apply(x, scale, 1e-6f, y, rows, w);
            Close(expected, y, 1e-5, $"rmsnorm {w}");
            var pooled = new float[rows * d];
            RmsNorm.Apply(x, scale, 1e-6f, pooled, rows, Pool3, w);
            Assert.Equal(y, pooled);   // rows split across threads: the same bits
        }
    }

    [Property(MaxTest = 40)]
    public void Causal_conv_matches_reference_and_carries_state(byte channelsRaw, byte tapsRaw, byte rowsRaw, byte splitRaw, int seed)
    {
        int c = 1 + channelsRaw % 40, taps = 1 + tapsRaw % 5, rows = 1 + rowsRaw % 9, split = splitRaw % (rows + 1);
        var rng = new Random(seed);
        var x = Floats(rng, rows * c);
        var weight = Floats(rng, taps * c);
        var bias = Floats(rng, c);
        var history = Floats(rng, (taps - 1) * c);
        double[] expected = ReferenceKernels.Conv(history, x, rows, weight, bias);
        foreach (var w in Simd.Supported)
        {
            // In two calls split at `split`: the state must carry exactly the last taps-1 inputs.
            var state = (float[])history.Clone();
            var y = new float[rows * c];
            CausalConv1D.Apply(x.AsSpan(0, split * c), split, state, weight, bias, y.AsSpan(0, split * c), w);
            CausalConv1D.Apply(x.AsSpan(split * c), rows - split, state, weight, bias, y.AsSpan(split * c), w);
            Close(expected, y, 1e-5, $"conv {w}");
            var all = history.Concat(x).ToArray();
            Assert.Equal(all.AsSpan(all.Length - (taps - 1) * c).ToArray(), state);
        }
    }

    [Property(MaxTest = 40)]
    public void Rg_lru_scan_matches_reference(byte widthRaw, byte rowsRaw, bool reset, int seed)
    {
        int e = 1 + widthRaw % 45, rows = 1 + rowsRaw % 8;
        var rng = new Random(seed);
        var x = Floats(rng, rows * e, 2);
        var gx = Floats(rng, rows * e, 3);
        var ga = Floats(rng, rows * e, 3);
        var y = Floats(rng, rows * e);
        var param = Floats(rng, e, 3);
        var decay = new float[e];
        RgLru.Decay(param, decay);
        var h0 = Floats(rng, e);
        var hRef = Array.ConvertAll(h0, v => (double)v);
        double[] expected = ReferenceKernels.Scan(x, gx, ga, decay, y, hRef, reset, rows);
        foreach (var w in Simd.Supported)
        {
            var h = (float[])h0.Clone();
            var output = new float[rows * e];
            RgLru.Scan(x, gx, ga, decay, y, h, reset, output, rows, null, w);
            Close(expected, output, 2e-5, $"scan {w}");
            Close(hRef, h, 2e-5, $"scan state {w}");
        }
    }

    [Property(MaxTest = 8)]
    public void Rg_lru_scan_split_over_channel_blocks_equals_one_pass(byte extra, byte rowsRaw, int seed)
    {
        int e = 512 + extra, rows = 16 + rowsRaw % 9;   // several 256-channel blocks and a ragged last one
        var rng = new Random(seed);
        var x = Floats(rng, rows * e, 2);
        var gx = Floats(rng, rows * e, 3);
        var ga = Floats(rng, rows * e, 3);
        var y = Floats(rng, rows * e);
        var decay = new float[e];
        RgLru.Decay(Floats(rng, e, 3), decay);
        var h0 = Floats(rng, e);
        foreach (var w in Simd.Supported)
        {
            var (hAlone, hSplit) = ((float[])h0.Clone(), (float[])h0.Clone());
            var (alone, split) = (new float[rows * e], new float[rows * e]);
            RgLru.Scan(x, gx, ga, decay, y, hAlone, false, alone, rows, null, w);
            RgLru.Scan(x, gx, ga, decay, y, hSplit, false, split, rows, Pool3, w);
            Assert.Equal(alone, split);
            Assert.Equal(hAlone, hSplit);
        }
    }

    [Fact]
    public void Softplus_matches_reference_including_the_threshold()
    {
        foreach (float z in new[] { -30f, -3f, 0f, 0.5f, 19.9f, 20f, 25f })
            Assert.Equal(z > 20 ? z : Math.Log(1 + Math.Exp(z)), RgLru.Softplus(z), 5);
    }

    [Property(MaxTest = 40)]
    public void Rope_rotates_half_and_passes_the_rest(byte headsRaw, byte halfRaw, byte extraRaw, ushort position, int seed)
    {
        int heads = 1 + headsRaw % 3, half = 1 + halfRaw % 20, hd = 2 * half + extraRaw % 6;
        var rng = new Random(seed);
        var x = Floats(rng, heads * hd);
        var inv = Rope.InverseFrequencies(2 * half, 10000);
        var cos = new float[half];
        var sin = new float[half];
        Rope.Angles(position, inv, cos, sin);
        var expected = new double[x.Length];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < hd; i++)
            {
                int j = h * hd + i;
                if (i >= 2 * half) { expected[j] = x[j]; continue; }
                int k = i % half;
                double angle = position * (1 / Math.Pow(10000, 2.0 * k / (2 * half)));
                double x1 = x[h * hd + k], x2 = x[h * hd + half + k];
                expected[j] = i < half ? x1 * Math.Cos(angle) - x2 * Math.Sin(angle) : x2 * Math.Cos(angle) + x1 * Math.Sin(angle);
            }
        foreach (var w in Simd.Supported)
        {
            var y = (float[])x.Clone();
            Rope.Apply(y, heads, hd, cos, sin, w);
            Close(expected, y, 2e-5 + 1e-7 * position, $"rope {w}");
        }
    }

    [Property(MaxTest = 30)]
    public void Rope_over_all_rows_equals_each_row_alone(byte rowsRaw, byte headsRaw, byte halfRaw, int seed)
    {
        int rows = 1 + rowsRaw % 20, heads = 1 + headsRaw % 4, half = 1 + halfRaw % 12, hd = 2 * half + (seed & 3);
        var rng = new Random(seed);
        var inv = Rope.InverseFrequencies(2 * half, 10000);
        var positions = Enumerable.Range(0, rows).Select(_ => rng.Next(100000)).ToArray();
        var q = Floats(rng, rows * heads * hd, 2);
        var k = Floats(rng, rows * hd, 2);
        float[] qAlone = (float[])q.Clone(), kAlone = (float[])k.Clone();
        var cos = new float[half];
        var sin = new float[half];
        for (int r = 0; r < rows; r++)
        {
            Rope.Angles(positions[r], inv, cos, sin);
            Rope.Apply(qAlone.AsSpan(r * heads * hd, heads * hd), heads, hd, cos, sin);
            Rope.Apply(kAlone.AsSpan(r * hd, hd), 1, hd, cos, sin);
        }
        foreach (var pool in new[] { null, Pool3 })
        {
            float[] qs = (float[])q.Clone(), ks = (float[])k.Clone();
            Rope.ApplyRows(qs, ks, positions, heads, hd, inv, pool);
            Assert.Equal(qAlone, qs);
            Assert.Equal(kAlone, ks);
        }
    }

    [Property(MaxTest = 40)]
    public void Sliding_window_attention_over_ring_and_chunk_matches_full_history(byte windowRaw, byte startRaw, byte rowsRaw, byte headsRaw, byte hdRaw, int seed)
    {
        // Up to five heads (two pairs and a single for the scores; a group of four and a short one for the values) and
        // head dims past 64, so every width takes whole four-vector value tiles, leftover vectors and a scalar tail.
        int window = 1 + windowRaw % 9, start = startRaw % 20, rows = 1 + rowsRaw % 12, heads = 1 + headsRaw % 5, hd = 1 + hdRaw % 80;
        var rng = new Random(seed);
        int total = start + rows;
        var keys = Floats(rng, total * hd, 2);
        var values = Floats(rng, total * hd);
        var q = Floats(rng, rows * heads * hd, 2);
        double[] expected = ReferenceKernels.Attention(q, keys, values, rows, start, window, heads, hd);
        foreach (var w in Simd.Supported)
        {
            // The ring holds the positions before `start`, built the way decode builds it.
            var ringK = new float[window * hd];
            var ringV = new float[window * hd];
            SlidingWindowAttention.AppendToRing(keys.AsSpan(0, start * hd), values.AsSpan(0, start * hd), start, 0, window, hd, ringK, ringV);
            var alone = new float[rows * heads * hd];
            SlidingWindowAttention.Forward(q, keys.AsSpan(start * hd), values.AsSpan(start * hd), ringK, ringV, rows, start, window, heads, hd, alone, null, w);
            Close(expected, alone, 2e-5, $"attention {w}");
            // Split across threads (rows, or heads when there are few rows): the same bits.
            var split = new float[rows * heads * hd];
            SlidingWindowAttention.Forward(q, keys.AsSpan(start * hd), values.AsSpan(start * hd), ringK, ringV, rows, start, window, heads, hd, split, Pool3, w);
            Assert.Equal(alone, split);
            // Windows split into key blocks (flash-decoding: partial softmaxes merged): still the reference, and still the
            // same bits on one thread or three.
            int keyBlock = 1 + (seed & 0x7fffffff) % 4;
            AttentionChunk[] one = [new(0, rows, start, ringK, ringV)];
            var blocked = new float[rows * heads * hd];
            SlidingWindowAttention.ForwardBatch(q, keys.AsSpan(start * hd), values.AsSpan(start * hd), one, window, heads, hd, blocked, null, w, keyBlock);
            Close(expected, blocked, 2e-5, $"attention {w}, key blocks of {keyBlock}");
            var blockedSplit = new float[rows * heads * hd];
            SlidingWindowAttention.ForwardBatch(q, keys.AsSpan(start * hd), values.AsSpan(start * hd), one, window, heads, hd, blockedSplit, Pool3, w, keyBlock);
            Assert.Equal(blocked, blockedSplit);
        }
    }

    [Property(MaxTest = 60)]
    public unsafe void Sum_of_each_vector_in_one_shuffle_tree_equals_each_vector_summed_alone(byte countRaw, int seed)
    {
        // Lanes of mixed magnitudes and signs, so a different order of additions would round differently.
        int count = 1 + countRaw % 40;
        var rng = new Random(seed);
        var values = new float[count * 16];
        for (int i = 0; i < values.Length; i++) values[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-6, 7)));
        var sums = new float[count];
        fixed (float* v = values, s = sums)
            foreach (var w in Simd.Supported)
            {
                int lanes = (int)w;
                switch (w)
                {
                    case SimdWidth.Vector512: Lanes512.SumEach(v, count, s); break;
                    case SimdWidth.Vector256: Lanes256.SumEach(v, count, s); break;
                    case SimdWidth.Vector128: Lanes128.SumEach(v, count, s); break;
                    default: LanesScalar.SumEach(v, count, s); break;
                }
                for (int i = 0; i < count; i++)
                {
                    float alone = w switch
                    {
                        SimdWidth.Vector512 => Lanes512.Sum(System.Runtime.Intrinsics.Vector512.Load(v + i * lanes)),
                        SimdWidth.Vector256 => Lanes256.Sum(System.Runtime.Intrinsics.Vector256.Load(v + i * lanes)),
                        SimdWidth.Vector128 => Lanes128.Sum(System.Runtime.Intrinsics.Vector128.Load(v + i * lanes)),
                        _ => v[i],
                    };
                    Assert.True(BitConverter.SingleToInt32Bits(alone) == BitConverter.SingleToInt32Bits(s[i]), $"{w}: vector {i} of {count}: {s[i]} vs {alone}");
                }
            }
    }

    [Property(MaxTest = 30)]
    public void Attention_over_many_sequences_in_one_job_equals_each_sequence_alone(byte countRaw, byte windowRaw, byte blockRaw, int seed)
    {
        // Sequences at different positions, of different lengths (decode rows and prefill chunks mixed), with their own
        // rings; key blocks small enough that some rows merge several and others have one.
        int count = 1 + countRaw % 6, window = 1 + windowRaw % 9, heads = 3, hd = 7, keyBlock = 1 + blockRaw % 6;
        var rng = new Random(seed);
        var chunks = new AttentionChunk[count];
        var alone = new List<float[]>();
        var qs = new List<float[]>(); var ks = new List<float[]>(); var vs = new List<float[]>();
        int row = 0;
        for (int c = 0; c < count; c++)
        {
            int start = rng.Next(20), rows = 1 + rng.Next(rng.Next(2) == 0 ? 1 : 6);
            var history = Floats(rng, start * hd, 2);
            var historyV = Floats(rng, start * hd);
            var ringK = new float[window * hd];
            var ringV = new float[window * hd];
            SlidingWindowAttention.AppendToRing(history, historyV, start, 0, window, hd, ringK, ringV);
            qs.Add(Floats(rng, rows * heads * hd, 2)); ks.Add(Floats(rng, rows * hd, 2)); vs.Add(Floats(rng, rows * hd));
            var o = new float[rows * heads * hd];
            SlidingWindowAttention.ForwardBatch(qs[c], ks[c], vs[c], new[] { new AttentionChunk(0, rows, start, ringK, ringV) }, window, heads, hd, o, null, Simd.Best, keyBlock);
            alone.Add(o);
            chunks[c] = new AttentionChunk(row, rows, start, ringK, ringV);
            row += rows;
        }
        float[] q = [.. qs.SelectMany(a => a)], k = [.. ks.SelectMany(a => a)], v = [.. vs.SelectMany(a => a)];
        foreach (var pool in new[] { null, Pool3 })
        {
            var together = new float[row * heads * hd];
            SlidingWindowAttention.ForwardBatch(q, k, v, chunks, window, heads, hd, together, pool, Simd.Best, keyBlock);
            Assert.Equal(alone.SelectMany(a => a).ToArray(), together);
        }
    }

    [Property(MaxTest = 30)]
    public void Conv_and_scan_over_many_sequences_in_one_job_equal_each_sequence_alone(byte countRaw, ushort channelsRaw, int seed)
    {
        // Channels past one 256-channel block, so the scan splits (sequence, block); one-row decodes and longer chunks mixed.
        int count = 1 + countRaw % 6, e = 1 + channelsRaw % 600, taps = 4;
        var rng = new Random(seed);
        var weight = Floats(rng, taps * e);
        var bias = Floats(rng, e);
        var decay = new float[e];
        RgLru.Decay(Floats(rng, e), decay);
        var rowsOf = Enumerable.Range(0, count).Select(_ => 1 + rng.Next(rng.Next(2) == 0 ? 1 : 20)).ToArray();
        int total = rowsOf.Sum();
        float[] x = Floats(rng, total * e), gx = Floats(rng, total * e), ga = Floats(rng, total * e), y = Floats(rng, total * e);
        float[][] convStates = [.. rowsOf.Select(_ => Floats(rng, (taps - 1) * e))], lruStates = [.. rowsOf.Select(_ => Floats(rng, e))];
        bool[] reset = [.. rowsOf.Select(_ => rng.Next(3) == 0)];

        var convAlone = new float[total * e];
        var scanAlone = new float[total * e];
        var convAloneStates = convStates.Select(a => (float[])a.Clone()).ToArray();
        var lruAloneStates = lruStates.Select(a => (float[])a.Clone()).ToArray();
        var convChunks = new ConvChunk[count];
        var lruChunks = new LruChunk[count];
        for (int c = 0, row = 0; c < count; row += rowsOf[c], c++)
        {
            var range = new Range(row * e, (row + rowsOf[c]) * e);
            CausalConv1D.Apply(x[range], rowsOf[c], convAloneStates[c], weight, bias, convAlone.AsSpan(range));
            RgLru.Scan(x[range], gx[range], ga[range], decay, y[range], lruAloneStates[c], reset[c], scanAlone.AsSpan(range), rowsOf[c], null, Simd.Best);
            convChunks[c] = new ConvChunk(row, rowsOf[c], convStates[c]);
            lruChunks[c] = new LruChunk(row, rowsOf[c], lruStates[c], reset[c]);
        }
        var conv = new float[total * e];
        var scan = new float[total * e];
        CausalConv1D.ApplyBatch(x, convChunks, weight, bias, conv, Pool3);
        RgLru.ScanBatch(x, gx, ga, decay, y, scan, lruChunks, Pool3, Simd.Best);
        Assert.Equal(convAlone, conv);
        Assert.Equal(scanAlone, scan);
        for (int c = 0; c < count; c++)
        {
            Assert.Equal(convAloneStates[c], convStates[c]);   // the histories and states carried on the same way
            Assert.Equal(lruAloneStates[c], lruStates[c]);
        }
    }

    [Property(MaxTest = 80)]
    public void Sums_match_the_reference_at_every_width_and_do_not_depend_on_the_address(ushort lengthRaw, byte offsetRaw, int seed)
    {
        int n = lengthRaw % 3000, offset = offsetRaw % 17;
        var rng = new Random(seed);
        var a = Floats(rng, n, 4);
        var b = Floats(rng, n, 4);
        double dot = 0, sum = 0, kept = 0;
        for (int i = 0; i < n; i++) { dot += (double)a[i] * b[i]; sum += a[i]; if (a[i] >= 0.5f) kept += a[i]; }
        double tol = 1e-5 * (1 + Math.Sqrt(n)) * 16;
        foreach (var w in Simd.Supported)
        {
            Assert.True(Math.Abs(dot - Reductions.Dot(a, b, w)) <= tol, $"dot {w}");
            Assert.True(Math.Abs(sum - Reductions.Sum(a, w)) <= tol, $"sum {w}");
            Assert.True(Math.Abs(kept - Reductions.SumAtLeast(a, 0.5f, w)) <= tol, $"sum-at-least {w}");
            // The same values elsewhere in memory (a row batched with others) sum to the same bits.
            var shiftedA = new float[n + offset];
            var shiftedB = new float[n + offset];
            a.CopyTo(shiftedA, offset);
            b.CopyTo(shiftedB, offset);
            Assert.Equal(Reductions.Dot(a, b, w), Reductions.Dot(shiftedA.AsSpan(offset), shiftedB.AsSpan(offset), w));
            Assert.Equal(Reductions.Sum(a, w), Reductions.Sum(shiftedA.AsSpan(offset), w));
        }
        if (n > 0) Assert.Equal(a.Max(), Reductions.Max(a));
    }

    [Property(MaxTest = 100)]
    public void Arg_max_is_the_first_index_of_the_maximum(byte lengthRaw, byte levels, int seed)
    {
        // Few distinct values (negative, both zeros, positive), so ties are common; now and then a NaN.
        int n = 1 + lengthRaw * 5, k = 1 + levels % 5;   // up to 1276: every vector path and ragged tails
        var rng = new Random(seed);
        var values = new[] { -3f, -0f, 0f, 2f, 5f, -1f }.Take(1 + k).ToArray();
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = values[rng.Next(values.Length)] * (rng.Next(3) == 0 ? -1 : 1);
        if (rng.Next(8) == 0) x[rng.Next(n)] = float.NaN;
        int expected = ReferenceArgMax(x);
        Assert.Equal(expected, TensorPrimitives.IndexOfMax<float>(x));   // the rules it keeps
        Assert.Equal(expected, Reductions.ArgMax(x));
    }

    /// <summary>The first NaN if there is one; else the first index of the largest value, +0 above -0.</summary>
    static int ReferenceArgMax(float[] x)
    {
        for (int i = 0; i < x.Length; i++) if (float.IsNaN(x[i])) return i;
        int best = 0;
        for (int i = 1; i < x.Length; i++)
            if (x[i] > x[best] || (x[i] == 0 && x[best] == 0 && !float.IsNegative(x[i]) && float.IsNegative(x[best]))) best = i;
        return best;
    }

    [Fact]
    public void Bf16_conversion_round_trips_and_rounds_to_nearest_even()
    {
        for (int bits = 0; bits < 65536; bits++)
        {
            float f = Bf16.ToFloat((ushort)bits);
            if (!float.IsNaN(f)) Assert.Equal((ushort)bits, Bf16.FromFloat(f));
        }
        Assert.Equal(Bf16.FromFloat(1f), Bf16.FromFloat(BitConverter.Int32BitsToSingle(0x3F808000)));   // tie -> even (down)
        Assert.Equal((ushort)0x3F82, Bf16.FromFloat(BitConverter.Int32BitsToSingle(0x3F818000)));       // tie -> even (up)
        Assert.True(float.IsNaN(Bf16.ToFloat(Bf16.FromFloat(float.NaN))));
        var src = new ushort[37];
        for (int i = 0; i < src.Length; i++) src[i] = (ushort)(0x3F80 + i * 7);
        var dst = new float[37];
        Bf16.ToFloat(src, dst);
        for (int i = 0; i < src.Length; i++) Assert.Equal(Bf16.ToFloat(src[i]), dst[i]);
    }
}
