namespace RecurrentGemma.Core.Model;

/// <summary>
/// A row-major bf16 matrix, usually pointing straight into a memory-mapped checkpoint (no copy).
/// The memory's owner (<see cref="ModelWeights"/>) keeps it alive.
/// </summary>
public readonly unsafe struct Bf16Matrix(ushort* data, int rows, int cols)
{
    public readonly ushort* Data = data;
    public readonly int Rows = rows;
    public readonly int Cols = cols;

    public long ElementCount => (long)Rows * Cols;
    public ReadOnlySpan<ushort> Span => new(Data, checked(Rows * Cols));
    public ReadOnlySpan<ushort> Row(int r) => new(Data + (long)r * Cols, Cols);
}
