using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

using RecurrentGemma.Kernels.Memory;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// A bf16 weight matrix W[out, in] repacked once into the layout <see cref="MatMulBf16"/> streams: K-major panels of
/// <see cref="PanelWidth"/> output columns. Inside a panel, input index k holds 32 bf16 values (64 bytes, one cache
/// line) ordered so that 32-bit lane j carries column j in its low half and column 16 + j in its high half: a
/// shift left by 16 widens columns 0..15 to f32 and a mask widens 16..31, with no shuffles.
/// <para>
/// Block-diagonal matrices (the RG-LRU gates) are <see cref="Groups"/> independent [OutPerGroup, InPerGroup] blocks:
/// group g reads inputs [g*InPerGroup, (g+1)*InPerGroup) and writes outputs [g*OutPerGroup, (g+1)*OutPerGroup).
/// A dense matrix is one group. Each group's panels are padded with zero columns to a multiple of 32.
/// </para>
/// Owns 64-byte-aligned native memory (dispose to free it), or is a view of a mapped packed file kept alive by its owner.
/// </summary>
public sealed unsafe class PackedBf16Matrix : PackedMatrix
{
    public const int PanelWidth = 32;

    readonly MatrixMemory _memory;

    public int Groups { get; }
    public int OutPerGroup { get; }
    public int InPerGroup { get; }
    public int PanelsPerGroup { get; }
    public override MatrixFormat Format => MatrixFormat.Bf16;
    public override int OutDim => Groups * OutPerGroup;
    public override int InDim => Groups * InPerGroup;
    public int Panels => Groups * PanelsPerGroup;
    /// <summary>Bytes of packed weights (including zero padding).</summary>
    public override long SizeInBytes => (long)Panels * InPerGroup * PanelWidth * sizeof(ushort);
    /// <summary>Bytes of the real weights (what a GEMV must stream).</summary>
    public long WeightBytes => (long)OutDim * InPerGroup * sizeof(ushort);
    public override long StreamBytes => WeightBytes;

    internal ushort* Data => (ushort*)_memory.Pointer;

    PackedBf16Matrix(int groups, int outPerGroup, int inPerGroup, MatrixMemory? view = null)
    {
        if (groups <= 0 || outPerGroup <= 0 || inPerGroup <= 0)
        {
            view?.Dispose();   // the view was handed over: release it rather than leak its owner
            throw new ArgumentException($"matrix dimensions must be positive: {groups} groups of [{outPerGroup}, {inPerGroup}]");
        }
        Groups = groups;
        OutPerGroup = outPerGroup;
        InPerGroup = inPerGroup;
        PanelsPerGroup = (outPerGroup + PanelWidth - 1) / PanelWidth;
        _memory = view ?? MatrixMemory.Allocate(SizeInBytes);
    }

    /// <summary>Bytes a matrix of this shape occupies packed.</summary>
    public static long SizeOf(int groups, int outPerGroup, int inPerGroup) =>
        (long)groups * ((outPerGroup + PanelWidth - 1) / PanelWidth) * inPerGroup * PanelWidth * sizeof(ushort);

    /// <summary>A view of data already in this layout (a mapped packed file): no copy; <paramref name="owner"/> is disposed with the matrix.</summary>
    public static PackedBf16Matrix View(int groups, int outPerGroup, int inPerGroup, byte* data, IDisposable owner) =>
        new(groups, outPerGroup, inPerGroup, MatrixMemory.View(data, owner));

    /// <summary>Copies the packed bytes to <paramref name="destination"/> (to write a packed file).</summary>
    public override void CopyTo(Stream destination) => CopyBytes((byte*)Data, SizeInBytes, destination);

    /// <summary>Where W[g, o, k] lives in the packed buffer.</summary>
    internal static long PackedIndex(int panelsPerGroup, int inPerGroup, int g, int o, int k)
    {
        int panel = g * panelsPerGroup + o / PanelWidth;
        return ((long)panel * inPerGroup + k) * PanelWidth + Lane(o % PanelWidth);
    }

    /// <summary>Where column c of a panel's 32 sits among its 16-bit slots: column j low, column 16 + j high, in lane j.</summary>
    internal static int Lane(int c) => c < 16 ? 2 * c : 2 * (c - 16) + 1;

    /// <summary>
    /// Packs bf16 weights from any strided source: element (g, o, k) is source[g*groupStride + o*outStride + k*inStride].
    /// A checkpoint's [out, in] Linear weight is (groups 1, outStride = in, inStride = 1); the RG-LRU gates stored
    /// [block, in, out] are (groupStride = in*out, outStride = 1, inStride = out).
    /// </summary>
    public static PackedBf16Matrix Pack(ReadOnlySpan<ushort> source, int groups, int outPerGroup, int inPerGroup,
        long groupStride, long outStride, long inStride)
    {
        long last = (groups - 1) * groupStride + (outPerGroup - 1) * outStride + (inPerGroup - 1) * inStride;
        if (groups <= 0 || outPerGroup <= 0 || inPerGroup <= 0 || last >= source.Length || groupStride < 0 || outStride < 0 || inStride < 0)
            throw new ArgumentException($"source of {source.Length} elements does not hold {groups} groups of [{outPerGroup}, {inPerGroup}] at the given strides");
        var m = new PackedBf16Matrix(groups, outPerGroup, inPerGroup);
        fixed (ushort* src = source) m.Fill(src, groupStride, outStride, inStride);
        return m;
    }

    /// <summary>Dense [out, in] row-major source, the checkpoint layout.</summary>
    public static PackedBf16Matrix Pack(ReadOnlySpan<ushort> source, int outDim, int inDim) =>
        Pack(source, 1, outDim, inDim, 0, inDim, 1);

    /// <summary>
    /// Fills a dense [out, in] matrix from a generator of rows (synthetic weights, never materialising the source):
    /// <paramref name="row"/> writes W[o, 0..in) into its span; it is called from the pool's threads, panels in parallel.
    /// </summary>
    public static PackedBf16Matrix Create(int outDim, int inDim, RowSource row, WorkerPool? pool = null)
    {
        var m = new PackedBf16Matrix(1, outDim, inDim);
        var job = new CreateJob(m, row);
        if (pool is null) for (int p = 0; p < m.Panels; p++) job.Execute(p);
        else pool.Run(job, m.Panels);
        return m;
    }

    public delegate void RowSource(int outIndex, Span<ushort> destination);

    sealed class CreateJob(PackedBf16Matrix m, RowSource row) : IParallelWork
    {
        [ThreadStatic] static ushort[]? t_rows;

        public void Execute(int panel)
        {
            int inDim = m.InPerGroup, cols = Math.Min(PanelWidth, m.OutPerGroup - panel * PanelWidth);
            var rows = t_rows is { } r && r.Length >= PanelWidth * inDim ? r : t_rows = new ushort[PanelWidth * inDim];
            for (int c = 0; c < cols; c++) row(panel * PanelWidth + c, rows.AsSpan(c * inDim, inDim));
            fixed (ushort* src = rows) m.FillPanel(0, panel, src, inDim, 1, cols);
        }
    }

    void Fill(ushort* src, long groupStride, long outStride, long inStride)
    {
        for (int g = 0; g < Groups; g++)
            for (int p = 0; p < PanelsPerGroup; p++)
                FillPanel(g, p, src + g * groupStride + p * PanelWidth * outStride, outStride, inStride, Math.Min(PanelWidth, OutPerGroup - p * PanelWidth));
    }

    /// <summary>Writes panel p of group g from panelSrc, which points at the panel's first column; missing columns become zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // runs once per panel at load: skip tier-0 code
    void FillPanel(int g, int p, ushort* panelSrc, long outStride, long inStride, int cols)
    {
        ushort* dst = Data + ((long)(g * PanelsPerGroup + p) * InPerGroup) * PanelWidth;
        if (cols < PanelWidth) new Span<ushort>(dst, InPerGroup * PanelWidth).Clear();
        // Column pairs (c, c + 16) share a 32-bit lane: write both halves with one store, walking k in the outer loop
        // so the writes stream through the panel once.
        ushort** column = stackalloc ushort*[PanelWidth];
        for (int c = 0; c < cols; c++) column[c] = panelSrc + c * outStride;
        uint* lanes = (uint*)dst;
        for (int k = 0; k < InPerGroup; k++, lanes += PanelWidth / 2)
        {
            long offset = k * inStride;
            for (int j = 0; j < 16; j++)
            {
                uint lo = j < cols ? column[j][offset] : 0u;
                uint hi = j + 16 < cols ? column[j + 16][offset] : 0u;
                lanes[j] = lo | hi << 16;
            }
        }
    }

    /// <summary>W[o, 0..in) of a dense matrix widened to f32: an embedding row when this matrix is the (tied) head.</summary>
    public override void ReadRow(int o, Span<float> destination)
    {
        if (Groups != 1) throw new InvalidOperationException("ReadRow needs a dense (one-group) matrix");
        CheckRow(o, destination);
        ushort* src = Data + PackedIndex(PanelsPerGroup, InPerGroup, 0, o, 0);
        for (int k = 0; k < InPerGroup; k++) destination[k] = Bf16.ToFloat(src[(long)k * PanelWidth]);
    }

    /// <summary>W[g, o, k] as stored (for tests and diagnostics).</summary>
    public ushort Get(int g, int o, int k) => Data[PackedIndex(PanelsPerGroup, InPerGroup, g, o, k)];

    public override void Multiply(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> bias, Span<float> y, WorkerPool? pool) =>
        MatMulBf16.Multiply(x, rows, this, bias, y, pool);

    public override void Dispose() => _memory.Dispose();
}
