namespace RecurrentGemma.Core.Checkpoint;

/// <summary>One tensor's entry in a safetensors header. <see cref="Offset"/> is absolute within the file.</summary>
public sealed record SafetensorsTensor(string Name, SafetensorsDType DType, long[] Shape, long Offset, long ByteLength)
{
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Shape) n *= d;
            return n;
        }
    }

    public string ShapeText => FormatShape(Shape);

    public static string FormatShape(ReadOnlySpan<long> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";
}
