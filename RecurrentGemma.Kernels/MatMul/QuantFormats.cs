using System.Runtime.CompilerServices;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>
/// How one quantized format stores a 32-column x 32-k block of a panel: eight "quads" (4 consecutive k) of codes, then
/// the 32 columns' bf16 scales in the bf16 panel's lane order (lane j = column j low, column 16 + j high). A weight is
/// (code - <see cref="Offset"/>) * scale; codes are unsigned so VPDPBUSD can take them as its u8 operand, and the
/// offset is paid once per block as -Offset * sum(x) in the accumulator's start value. The kernel sees the columns
/// of a quad as a low and a high half (<see cref="Load"/>). q4 spends fewer instructions a byte: its high half comes as
/// the bytes masked to their high nibbles, 16 x the codes (no shift: start value <see cref="HighOffset"/> = 16 x 8,
/// scale x <see cref="HighScale"/> = 1/16), and its low half as the whole bytes (16 x high + low, no mask), whose dot
/// minus the high half's is the low codes' dot (<see cref="CombinedLow"/>; start value <see cref="LowOffset"/> = 8 +
/// 128). All of it is exact integer arithmetic or scaling by a power of two: the same bits as with the plain codes.
/// Measured on the Zen 5 VM over the 2B's layer matrices in sequence: q4 decode GEMVs 72.4 -> 73.8 GB/s (3 A/B pairs).
/// </summary>
internal unsafe interface IQuantFormat
{
    static abstract MatrixFormat Format { get; }
    static abstract int Offset { get; }
    /// <summary>The low half's start value per unit of sum(x): Offset, or 8 + 128 for q4's whole bytes.</summary>
    static abstract int LowOffset { get; }
    /// <summary>Whether the low half's dot includes the high half's (q4): subtract it at the end of each block.</summary>
    static abstract bool CombinedLow { get; }
    /// <summary>The offset as the high half's values carry it (Offset, or 16 x Offset for q4).</summary>
    static abstract int HighOffset { get; }
    /// <summary>What the high half's scales are multiplied by (1, or 1/16 for q4: exact).</summary>
    static abstract float HighScale { get; }
    static abstract int QuadBytes { get; }
    /// <summary>
    /// Up to this many rows go through the decode row tile (all 32 columns in one pass, a dot chain per row and vector).
    /// Measured on the Zen 5 VM, the 2B's layer matrices in sequence at 4 rows: q8 58 -> 73-76 GB/s, q4 41-43 -> 40
    /// (q4's mask keeps a register the fourth row's chains then lack), so q8 takes 4 rows and q4 3.
    /// </summary>
    static abstract int RowTileRows { get; }
    /// <summary>
    /// Codes of columns [s*Count, (s+1)*Count) and [16 + s*Count, 16 + (s+1)*Count) of one quad, where
    /// <paramref name="p"/> = quad + s * 4 * Count.
    /// </summary>
    static abstract void Load<TI, TF, TL>(byte* p, out TI lo, out TI hi)
        where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF>;
    /// <summary>Quantizes one column's 32 weights of a block (zeros past the matrix edge) into codes; returns the bf16 scale.</summary>
    static abstract ushort Quantize(float* weights, byte* codes);
    /// <summary>Writes 32 columns' codes (column c's 32 codes at codes + 32c) into a block's quads.</summary>
    static abstract void Interleave(byte* codes, byte* block);
    /// <summary>The code of (column c, k j in the block), read from the block's quads (tests and diagnostics).</summary>
    static abstract int Get(byte* block, int c, int j);
}

/// <summary>
/// q8: codes w/scale + 128 in [1, 255], scale = max|w| / 127 rounded to bf16. A quad is 128 bytes: columns 0-15 (four
/// bytes each), then columns 16-31. Block: 1024 + 64 bytes = 8.5 bits a weight.
/// </summary>
internal unsafe struct Q8Format : IQuantFormat
{
    public static MatrixFormat Format => MatrixFormat.Q8;
    public static int Offset => 128;
    public static int LowOffset => 128;
    public static bool CombinedLow => false;
    public static int HighOffset => 128;
    public static float HighScale => 1f;
    public static int QuadBytes => 128;
    public static int RowTileRows => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load<TI, TF, TL>(byte* p, out TI lo, out TI hi)
        where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF>
    {
        lo = TL.Load(p);
        hi = TL.Load(p + 64);
    }

    public static ushort Quantize(float* weights, byte* codes) => BlockQuantizer.Q8(weights, codes, BlockQuantizer.Vectorized);

    public static void Interleave(byte* codes, byte* block)
    {
        for (int q = 0; q < 8; q++)
            for (int c = 0; c < 32; c++)
                *(uint*)(block + q * 128 + (c < 16 ? 4 * c : 64 + 4 * (c - 16))) = *(uint*)(codes + 32 * c + 4 * q);
    }

    public static int Get(byte* block, int c, int j) => block[j / 4 * 128 + (c < 16 ? 4 * c : 64 + 4 * (c - 16)) + j % 4];
}

/// <summary>
/// q4: codes w/scale + 8 in [0, 15], scale = -m / 8 for the weight m of largest magnitude (so m itself is exact at
/// code 0, as llama.cpp's Q4_0), rounded to bf16. A quad is 64 bytes: byte i holds element i of columns 0-15 in its
/// low nibble and element i of columns 16-31 in its high nibble, so one load and two masks give both halves at any
/// vector width. Block: 512 + 64 bytes = 4.5 bits a weight.
/// </summary>
internal unsafe struct Q4Format : IQuantFormat
{
    public static MatrixFormat Format => MatrixFormat.Q4;
    public static int Offset => 8;
    public static int LowOffset => 8 + 16 * 8;
    public static bool CombinedLow => true;
    public static int HighOffset => 16 * 8;
    public static float HighScale => 1f / 16;
    public static int QuadBytes => 64;
    public static int RowTileRows => 3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load<TI, TF, TL>(byte* p, out TI lo, out TI hi)
        where TI : struct where TF : struct where TL : struct, IInt8Lanes<TI, TF>
    {
        lo = TL.Load(p);
        hi = TL.HighNibbles16(lo);
    }

    public static ushort Quantize(float* weights, byte* codes) => BlockQuantizer.Q4(weights, codes, BlockQuantizer.Vectorized);

    public static void Interleave(byte* codes, byte* block)
    {
        for (int c = 0; c < 16; c++)
        {
            byte* lo = codes + 32 * c, hi = codes + 32 * (c + 16);
            for (int j = 0; j < 32; j++) block[j / 4 * 64 + 4 * c + j % 4] = (byte)(lo[j] | hi[j] << 4);
        }
    }

    public static int Get(byte* block, int c, int j)
    {
        byte b = block[j / 4 * 64 + 4 * (c % 16) + j % 4];
        return c < 16 ? b & 0x0F : b >> 4;
    }
}
