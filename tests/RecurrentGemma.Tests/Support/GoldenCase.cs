using System.Runtime.InteropServices;
using RecurrentGemma.Core.Checkpoint;

namespace RecurrentGemma.Tests.Support;

/// <summary>A golden case directory: model + golden.safetensors reference tensors (float32 / int64).</summary>
public sealed class GoldenCase
{
    public string Directory { get; }
    readonly Dictionary<string, float[]> _floats = [];
    readonly Dictionary<string, long[]> _longs = [];
    readonly Dictionary<string, long[]> _shapes = [];

    /// <param name="file">defaults to the case's golden.safetensors; or any file of the same tensor names (e.g. rgemma forward's output).</param>
    public GoldenCase(string name, string? file = null)
    {
        Directory = TestData.Golden(name);
        using var golden = SafetensorsFile.Open(file ?? Path.Combine(Directory, "golden.safetensors"));
        foreach (var (key, t) in golden.Tensors)
        {
            _shapes[key] = t.Shape;
            var bytes = golden.Bytes(t);
            if (t.DType == SafetensorsDType.F32) _floats[key] = MemoryMarshal.Cast<byte, float>(bytes).ToArray();
            else if (t.DType == SafetensorsDType.I64) _longs[key] = MemoryMarshal.Cast<byte, long>(bytes).ToArray();
        }
    }

    public float[] Floats(string name) => _floats.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"golden tensor {name}");
    public int[] Ids(string name) => Array.ConvertAll(_longs[name], x => (int)x);
    public long[] Longs(string name) => _longs[name];
    public long[] Shape(string name) => _shapes[name];
}

public static class Tolerance
{
    /// <summary>SPEC.md: two independent f32 implementations agree to 4e-5; single bugs move logits by at least 2e-3.</summary>
    public const float Logits = 5e-4f;

    public static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Xunit.Assert.Equal(a.Length, b.Length);
        float max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            float d = MathF.Abs(a[i] - b[i]);
            if (!(d <= max)) max = d;   // NaN propagates as a failure
        }
        return max;
    }

    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float tolerance, string what)
    {
        float d = MaxAbsDiff(expected, actual);
        Xunit.Assert.True(d <= tolerance, $"{what}: max-abs diff {d} exceeds {tolerance}");
    }
}
