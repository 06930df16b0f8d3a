namespace RecurrentGemma.Kernels;

/// <summary>
/// y[r, b*bw + j] = bias[b*bw + j] + sum_i x[r, b*bw + i] * W[b, i, j]: a block-diagonal matrix whose blocks are stored
/// [block, in, out] in bf16 (the RG-LRU gate layout). Row-vector-times-matrix, so each input element scales one W row.
/// </summary>
public static class BlockDiagonalMatMul
{
    public static void Multiply(ReadOnlySpan<float> x, int rows, ReadOnlySpan<ushort> w, int blocks, ReadOnlySpan<float> bias, Span<float> y) =>
        Multiply(x, rows, w, blocks, bias, y, Simd.Best);

    public static void Multiply(ReadOnlySpan<float> x, int rows, ReadOnlySpan<ushort> w, int blocks, ReadOnlySpan<float> bias, Span<float> y, SimdWidth width)
    {
        int dim = bias.Length;
        if (blocks <= 0 || dim % blocks != 0) throw new ArgumentException($"{dim} channels do not split into {blocks} blocks", nameof(blocks));
        int bw = dim / blocks;
        if (w.Length != blocks * bw * bw) throw new ArgumentException($"W has {w.Length} elements, expected {blocks}x{bw}x{bw}", nameof(w));
        if (x.Length < rows * dim || y.Length < rows * dim) throw new ArgumentException($"need {rows}x{dim} elements");
        for (int r = 0; r < rows; r++)
        {
            var yRow = y.Slice(r * dim, dim);
            bias.CopyTo(yRow);
            for (int b = 0; b < blocks; b++)
            {
                var yBlock = yRow.Slice(b * bw, bw);
                var wBlock = w.Slice(b * bw * bw, bw * bw);
                for (int i = 0; i < bw; i++)
                    MatMulBf16.Axpy(x[r * dim + b * bw + i], wBlock.Slice(i * bw, bw), yBlock, width);
            }
        }
    }
}
