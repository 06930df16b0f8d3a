using System.Runtime.InteropServices;
using RecurrentGemma.Core;
using RecurrentGemma.Core.Checkpoint;

namespace RecurrentGemma.Cli.Commands;

/// <summary>A golden reference for rgemma forward --reference: the prompt, and the logits and greedy ids it must reproduce.</summary>
internal sealed class ForwardReference
{
    public required string Path { get; init; }
    public required long[] PromptIds { get; init; }
    public required float[] PrefillLogits { get; init; }
    public required long[] GeneratedIds { get; init; }
    public required float[]? DecodeLogits { get; init; }

    public static ForwardReference Load(string path)
    {
        if (!File.Exists(path)) throw new UsageException($"--reference: {path} does not exist");
        using var file = SafetensorsFile.Open(path);
        return new ForwardReference
        {
            Path = path,
            PromptIds = Read<long>(file, "prompt_ids", SafetensorsDType.I64)!,
            PrefillLogits = Read<float>(file, "prefill_logits", SafetensorsDType.F32)!,
            GeneratedIds = Read<long>(file, "generated_ids", SafetensorsDType.I64, required: false) ?? [],
            DecodeLogits = Read<float>(file, "decode_logits", SafetensorsDType.F32, required: false),
        };
    }

    static T[]? Read<T>(SafetensorsFile file, string name, SafetensorsDType dtype, bool required = true) where T : struct
    {
        if (!file.Tensors.TryGetValue(name, out var tensor))
            return required ? throw new CheckpointException($"--reference {file.Path}: no tensor '{name}'") : null;
        if (tensor.DType != dtype)
            throw new CheckpointException($"--reference {file.Path}: tensor '{name}' is {tensor.DType.Name()}; expected {dtype.Name()}");
        return MemoryMarshal.Cast<byte, T>(file.Bytes(tensor)).ToArray();
    }

    /// <summary>
    /// Prints the max-abs differences and whether the ids match; returns the exit code (0 match, 1 mismatch). A
    /// quantized run (<paramref name="teacherForced"/>: it decoded the reference's own ids, so its decode logits are
    /// comparable row for row) is judged on the logits alone and reports how many greedy picks agree.
    /// </summary>
    public int Compare(float[] prefill, long[] generated, float[] decode, float tolerance, TextWriter stdout, bool teacherForced = false)
    {
        var problems = new List<string>();
        float? prefillDiff = MaxAbsDiff(PrefillLogits, prefill, "prefill_logits", tolerance, problems);
        float? decodeDiff = DecodeLogits is null ? 0 : MaxAbsDiff(DecodeLogits, decode, "decode_logits", tolerance, problems);
        bool idsMatch = GeneratedIds.AsSpan().SequenceEqual(generated);
        int agree = 0;
        for (int i = 0; i < Math.Min(GeneratedIds.Length, generated.Length); i++) if (GeneratedIds[i] == generated[i]) agree++;
        if (!idsMatch && !teacherForced) problems.Add($"generated_ids differ: expected {string.Join(",", GeneratedIds)}");
        string ids = teacherForced ? $"greedy picks agree at {agree} of {generated.Length} positions (decoded along the reference's ids)"
            : $"generated_ids {(idsMatch ? "identical" : "DIFFERENT")} ({generated.Length})";
        stdout.WriteLine($"parity vs {Path}: prefill_logits max-abs {prefillDiff:G3}, decode_logits max-abs {decodeDiff:G3} (tolerance {tolerance:G3}), {ids}");
        if (problems.Count == 0)
        {
            stdout.WriteLine("parity: PASS");
            return ExitCodes.Success;
        }
        foreach (string p in problems) stdout.WriteLine($"parity: FAIL: {p}");
        return ExitCodes.Failure;
    }

    /// <summary>The largest |expected - actual|, noting a problem when it exceeds the tolerance (or is NaN); null when the lengths differ.</summary>
    static float? MaxAbsDiff(float[] expected, float[] actual, string name, float tolerance, List<string> problems)
    {
        if (expected.Length != actual.Length)
        {
            problems.Add($"{name}: the reference has {expected.Length} values, this run {actual.Length}");
            return null;
        }
        float max = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            float d = MathF.Abs(expected[i] - actual[i]);
            if (!(d <= max)) max = d;   // NaN propagates as a failure
        }
        if (!(max <= tolerance)) problems.Add($"{name} max-abs diff {max:G3} exceeds {tolerance:G3}");
        return max;
    }
}
