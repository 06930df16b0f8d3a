using System.Runtime.CompilerServices;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// A dense W[out, in] quantized to <see cref="MatrixFormat.Q8"/> or <see cref="MatrixFormat.Q4"/> in the layout
/// <see cref="MatMulQuantized"/> streams: panels of 32 output columns, each a run of blocks of 32 k (the input padded
/// with zeros to a multiple of 32), each block its format's codes then the 32 columns' bf16 scales
/// (<see cref="IQuantFormat"/>). Panel p, block b starts at byte (p * <see cref="Blocks"/> + b) * <see cref="BlockBytes"/>.
/// The memory is either owned (aligned native memory) or a view of a mapped packed file kept alive by its owner.
/// </summary>
public sealed unsafe class PackedQuantMatrix : PackedMatrix
{
    public const int PanelWidth = 32, BlockSize = 32;

    readonly MatrixMemory _memory;

    public override MatrixFormat Format { get; }
    public override int OutDim { get; }
    public override int InDim { get; }
    /// <summary>Blocks of 32 along K.</summary>
    public int Blocks { get; }
    public int Panels { get; }
    public int BlockBytes { get; }
    public override long SizeInBytes => (long)Panels * Blocks * BlockBytes;
    public override long StreamBytes => SizeInBytes;

    internal byte* Data => _memory.Pointer;

    /// <summary>Bytes of one block in a format: eight quads of codes plus 64 bytes of scales.</summary>
    public static int BlockBytesOf(MatrixFormat format) => format switch
    {
        MatrixFormat.Q8 => 8 * Q8Format.QuadBytes + 64,
        MatrixFormat.Q4 => 8 * Q4Format.QuadBytes + 64,
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "not a quantized format"),
    };

    /// <summary>Bytes a matrix of this shape and format occupies.</summary>
    public static long SizeOf(MatrixFormat format, int outDim, int inDim) =>
        (long)((outDim + PanelWidth - 1) / PanelWidth) * ((inDim + BlockSize - 1) / BlockSize) * BlockBytesOf(format);

    PackedQuantMatrix(MatrixFormat format, int outDim, int inDim, MatrixMemory? view)
    {
        if (outDim <= 0 || inDim <= 0)
        {
            view?.Dispose();   // the view was handed over: release it rather than leak its owner
            throw new ArgumentException($"matrix dimensions must be positive: [{outDim}, {inDim}]");
        }
        Format = format;
        OutDim = outDim;
        InDim = inDim;
        BlockBytes = BlockBytesOf(format);
        Blocks = (inDim + BlockSize - 1) / BlockSize;
        Panels = (outDim + PanelWidth - 1) / PanelWidth;
        _memory = view ?? MatrixMemory.Allocate(SizeInBytes);
    }

    /// <summary>
    /// A view of packed data already in this layout (a mapped packed file): no copy. <paramref name="owner"/> keeps the
    /// memory alive and is disposed with the matrix (a shared owner can count its users).
    /// </summary>
    public static PackedQuantMatrix View(MatrixFormat format, int outDim, int inDim, byte* data, IDisposable owner) =>
        new(format, outDim, inDim, MatrixMemory.View(data, owner));

    /// <summary>Copies the packed bytes to <paramref name="destination"/> in chunks (a matrix may exceed 2 GB).</summary>
    public override void CopyTo(Stream destination) => CopyBytes(Data, SizeInBytes, destination);

    /// <summary>
    /// Quantizes a dense matrix from a generator of f32 rows (<paramref name="row"/> writes W[o, 0..in) into its span),
    /// panels in parallel on the pool.
    /// </summary>
    public static PackedQuantMatrix Quantize(MatrixFormat format, int outDim, int inDim, FloatRowSource row, WorkerPool? pool = null)
    {
        var m = new PackedQuantMatrix(format, outDim, inDim, null);
        try
        {
            var job = new QuantizeJob(m, row);
            if (pool is null) for (int p = 0; p < m.Panels; p++) job.Execute(p);
            else pool.Run(job, m.Panels);
            return m;
        }
        catch
        {
            m.Dispose();
            throw;
        }
    }

    public delegate void FloatRowSource(int outIndex, Span<float> destination);

    sealed class QuantizeJob(PackedQuantMatrix m, FloatRowSource row) : IParallelWork
    {
        [ThreadStatic] static float[]? t_rows;

        public void Execute(int panel)
        {
            int inPadded = m.Blocks * BlockSize, cols = Math.Min(PanelWidth, m.OutDim - panel * PanelWidth);
            var rows = t_rows is { } r && r.Length >= PanelWidth * inPadded ? r : t_rows = new float[PanelWidth * inPadded];
            Array.Clear(rows, 0, PanelWidth * inPadded);
            for (int c = 0; c < cols; c++) row(panel * PanelWidth + c, rows.AsSpan(c * inPadded, m.InDim));
            fixed (float* src = rows)
            {
                if (m.Format == MatrixFormat.Q8) m.FillPanel<Q8Format>(panel, src, inPadded);
                else m.FillPanel<Q4Format>(panel, src, inPadded);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // runs once per panel at load: skip tier-0 code
    void FillPanel<TFmt>(int panel, float* rows, int inPadded) where TFmt : struct, IQuantFormat
    {
        byte* codes = stackalloc byte[PanelWidth * BlockSize];
        for (int b = 0; b < Blocks; b++)
        {
            byte* block = Data + ((long)panel * Blocks + b) * BlockBytes;
            ushort* scales = (ushort*)(block + 8 * TFmt.QuadBytes);
            for (int c = 0; c < PanelWidth; c++)
            {
                float* w = rows + (long)c * inPadded + b * BlockSize;
                scales[PackedBf16Matrix.Lane(c)] = TFmt.Quantize(w, codes + BlockSize * c);
            }
            TFmt.Interleave(codes, block);
        }
    }

    /// <summary>The code and scale of W[o, k] (tests and diagnostics): the weight is (code - offset) * scale.</summary>
    public (int Code, float Scale) Get(int o, int k)
    {
        byte* block = Data + ((long)(o / PanelWidth) * Blocks + k / BlockSize) * BlockBytes;
        int c = o % PanelWidth, j = k % BlockSize;
        return Format == MatrixFormat.Q8 ? Entry<Q8Format>(block, c, j) : Entry<Q4Format>(block, c, j);
    }

    static (int, float) Entry<TFmt>(byte* block, int c, int j) where TFmt : struct, IQuantFormat =>
        (TFmt.Get(block, c, j), Bf16.ToFloat(((ushort*)(block + 8 * TFmt.QuadBytes))[PackedBf16Matrix.Lane(c)]));

    /// <summary>The code offset of this format: a weight is (code - Offset) * scale.</summary>
    public int Offset => Format == MatrixFormat.Q8 ? Q8Format.Offset : Q4Format.Offset;

    public override void ReadRow(int o, Span<float> destination)
    {
        CheckRow(o, destination);
        int offset = Offset;
        for (int k = 0; k < InDim; k++)
        {
            var (code, scale) = Get(o, k);
            destination[k] = (code - offset) * scale;
        }
    }

    public override void Multiply(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> bias, Span<float> y, WorkerPool? pool) =>
        MatMulQuantized.Multiply(x, rows, this, bias, y, pool, Int8Paths.Best);

    public override void Dispose() => _memory.Dispose();
}
