using RecurrentGemma.Core.Model;
using RecurrentGemma.Kernels;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>
/// tiny-a-batch: each sequence alone matches its reference; and the ragged batch (the engine's only forward form)
/// reproduces the reference's padded batch and packed row, since those are the same per-sequence computations.
/// </summary>
public class BatchGoldenTests
{
    static readonly GoldenCase Golden = new("tiny-a-batch");

    [Theory]
    [InlineData("A")]
    [InlineData("B")]
    [InlineData("C")]
    public void Each_sequence_alone_matches(string seq)
    {
        using var model = RecurrentGemmaModel.Load(Golden.Directory);
        int v = model.Config.VocabSize;
        int[] prompt = Golden.Ids($"alone.{seq}.prompt_ids"), generated = Golden.Ids($"alone.{seq}.generated_ids");
        var pass = model.CreateForwardPass();
        var state = model.CreateState();
        var prefill = new float[prompt.Length * v];
        pass.Run([new BatchEntry(state, prompt, true)], prefill);
        Tolerance.AssertClose(Golden.Floats($"alone.{seq}.prefill_logits"), prefill, Tolerance.Logits, $"{seq} prefill");
        Assert.Equal(generated[0], Reductions.ArgMax(prefill.AsSpan((prompt.Length - 1) * v, v)));
        var decode = Golden.Floats($"alone.{seq}.decode_logits");
        var row = new float[v];
        for (int i = 0; i < generated.Length; i++)
        {
            pass.Run([new BatchEntry(state, new[] { generated[i] })], row);
            Tolerance.AssertClose(decode.AsSpan(i * v, v), row, Tolerance.Logits, $"{seq} decode[{i}]");
            if (i + 1 < generated.Length) Assert.Equal(generated[i + 1], Reductions.ArgMax(row));
        }
    }

    [Fact]
    public void Ragged_batch_of_A_and_B_matches_the_padded_batch_reference()
    {
        using var model = RecurrentGemmaModel.Load(Golden.Directory);
        int v = model.Config.VocabSize;
        long[] tokens = Golden.Longs("batch.tokens"), valid = Golden.Longs("batch.valid");
        float[] expectedPrefill = Golden.Floats("batch.prefill_logits"), expectedDecode = Golden.Floats("batch.decode_logits");
        int[] generated = Golden.Ids("batch.generated_ids");
        const int width = 40, steps = 12;

        var rows = new int[2][];
        for (int r = 0; r < 2; r++)
        {
            var ids = new List<int>();
            for (int t = 0; t < width; t++) if (valid[r * width + t] == 1) ids.Add((int)tokens[r * width + t]);
            rows[r] = ids.ToArray();
        }
        var states = new[] { model.CreateState(), model.CreateState() };
        var pass = model.CreateForwardPass();
        var logits = new float[(rows[0].Length + rows[1].Length) * v];
        pass.Run([new BatchEntry(states[0], rows[0], true), new BatchEntry(states[1], rows[1], true)], logits);

        int outRow = 0;
        for (int r = 0; r < 2; r++)
            for (int t = 0; t < width; t++)
            {
                if (valid[r * width + t] != 1) continue;
                Tolerance.AssertClose(expectedPrefill.AsSpan((r * width + t) * v, v), logits.AsSpan(outRow * v, v), Tolerance.Logits, $"row {r} pos {t}");
                outRow++;
            }

        var step = new float[2 * v];
        for (int i = 0; i < steps; i++)
        {
            pass.Run([new BatchEntry(states[0], new[] { generated[i] }), new BatchEntry(states[1], new[] { generated[steps + i] })], step);
            for (int r = 0; r < 2; r++)
            {
                Tolerance.AssertClose(expectedDecode.AsSpan((r * steps + i) * v, v), step.AsSpan(r * v, v), Tolerance.Logits, $"row {r} decode {i}");
                if (i + 1 < steps) Assert.Equal(generated[r * steps + i + 1], Reductions.ArgMax(step.AsSpan(r * v, v)));
            }
        }
    }

    [Fact]
    public void Ragged_batch_of_B_and_C_matches_the_packed_row_reference()
    {
        using var model = RecurrentGemmaModel.Load(Golden.Directory);
        int v = model.Config.VocabSize;
        int[] packed = Golden.Ids("packed.tokens");
        long[] segmentPos = Golden.Longs("packed.segment_pos");
        int split = Array.IndexOf(segmentPos, 0L, 1);
        Assert.Equal(23, split);
        var logits = new float[packed.Length * v];
        model.CreateForwardPass().Run(
            [new BatchEntry(model.CreateState(), packed[..split], true), new BatchEntry(model.CreateState(), packed[split..], true)], logits);
        Tolerance.AssertClose(Golden.Floats("packed.prefill_logits"), logits, Tolerance.Logits, "packed");
    }
}
