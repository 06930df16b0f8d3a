using FsCheck.Xunit;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Tests.Support;
using RecurrentGemma.Kernels;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>
/// Shapes the golden cases don't cover (lru_width != hidden, conv widths 1..5, other patterns, odd head counts, tiny
/// windows): one full prefill, token-by-token decode, arbitrary chunking and batching with other sequences must give
/// bit-identical logits, because every row's arithmetic is the same whichever way the tokens arrive.
/// </summary>
public class ForwardConsistencyTests
{
    static readonly RandomModelSpec[] Specs =
    [
        new(Hidden: 32, LruWidth: 48, Heads: 2, MlpWidth: 40, Layers: 3, Pattern: ["recurrent", "attention"], Window: 5, ConvWidth: 3, Vocab: 67),
        new(Hidden: 36, LruWidth: 27, Heads: 3, MlpWidth: 50, Layers: 4, Pattern: ["attention", "recurrent", "recurrent"], Window: 2, ConvWidth: 1, Vocab: 50, Seed: 11),
        new(Hidden: 40, LruWidth: 40, Heads: 5, MlpWidth: 24, Layers: 2, Pattern: ["recurrent"], Window: 7, ConvWidth: 5, Vocab: 33, SoftCap: 0, Seed: 12),
        new(Hidden: 64, LruWidth: 80, Heads: 4, MlpWidth: 96, Layers: 3, Pattern: ["recurrent", "recurrent", "attention"], Window: 1, ConvWidth: 2, Vocab: 129, WriteLmHead: true, Seed: 13),
    ];

    static readonly Lazy<RecurrentGemmaModel>[] Models = Array.ConvertAll(Specs, s => new Lazy<RecurrentGemmaModel>(() => RecurrentGemmaModel.Load(s.Write())));

    static float[] FullPrefill(RecurrentGemmaModel model, int[] tokens)
    {
        var logits = new float[tokens.Length * model.Config.VocabSize];
        model.CreateForwardPass().Run([new BatchEntry(model.CreateState(), tokens, AllLogits: true)], logits);
        return logits;
    }

    static int[] RandomTokens(Random rng, int count, int vocab)
    {
        var t = new int[count];
        for (int i = 0; i < count; i++) t[i] = rng.Next(vocab);
        return t;
    }

    [Property(MaxTest = 40)]
    public void Chunked_and_token_by_token_equal_one_prefill(byte specPick, byte lengthRaw, byte chunkRaw, int seed)
    {
        var model = Models[specPick % Specs.Length].Value;
        int v = model.Config.VocabSize, length = 1 + lengthRaw % 30, chunk = 1 + chunkRaw % 9;
        var tokens = RandomTokens(new Random(seed), length, v);
        float[] expected = FullPrefill(model, tokens);

        // Same tokens fed in chunks of `chunk` through separate Run calls, and through a pass capped at `chunk` rows.
        var state = model.CreateState();
        var pass = model.CreateForwardPass();
        var chunked = new float[length * v];
        for (int start = 0; start < length; start += chunk)
        {
            int n = Math.Min(chunk, length - start);
            pass.Run([new BatchEntry(state, tokens.AsMemory(start, n), true)], chunked.AsSpan(start * v, n * v));
        }
        Assert.Equal(expected, chunked);

        var capped = new float[length * v];
        model.CreateForwardPass(maxRowsPerPass: chunk).Run([new BatchEntry(model.CreateState(), tokens, true)], capped);
        Assert.Equal(expected, capped);
    }

    [Property(MaxTest = 30)]
    public void A_sequence_batched_with_others_equals_it_alone(byte specPick, byte countRaw, byte capRaw, int seed)
    {
        var model = Models[specPick % Specs.Length].Value;
        int v = model.Config.VocabSize, count = 1 + countRaw % 4;
        var rng = new Random(seed);
        var prompts = new int[count][];
        for (int i = 0; i < count; i++) prompts[i] = RandomTokens(rng, 1 + rng.Next(12), v);

        var alone = Array.ConvertAll(prompts, p => FullPrefill(model, p));
        var entries = new BatchEntry[count];
        for (int i = 0; i < count; i++) entries[i] = new BatchEntry(model.CreateState(), prompts[i], AllLogits: true);
        var batched = new float[ForwardPass.LogitRowCount(entries) * v];
        model.CreateForwardPass(maxRowsPerPass: 1 + capRaw % 16).Run(entries, batched);

        int offset = 0;
        for (int i = 0; i < count; i++)
        {
            Assert.Equal(alone[i], batched.AsSpan(offset, alone[i].Length).ToArray());
            offset += alone[i].Length;
        }

        // Then one decode step for all of them together equals each stepping alone.
        var next = RandomTokens(rng, count, v);
        var step = new float[count * v];
        var decodeEntries = new BatchEntry[count];
        for (int i = 0; i < count; i++) decodeEntries[i] = new BatchEntry(entries[i].State, new[] { next[i] });
        model.CreateForwardPass().Run(decodeEntries, step);
        for (int i = 0; i < count; i++)
        {
            float[] full = FullPrefill(model, [.. prompts[i], next[i]]);
            Assert.Equal(full.AsSpan(prompts[i].Length * v, v).ToArray(), step.AsSpan(i * v, v).ToArray());
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(6)]
    public void Attention_sees_exactly_window_plus_one_keys(int window)
    {
        // One attention layer and nothing else: the logits at position t depend on tokens t-window..t only.
        var spec = new RandomModelSpec(Hidden: 32, LruWidth: 32, Heads: 2, MlpWidth: 24, Layers: 1, Pattern: ["attention"], Window: window, Vocab: 40, Seed: 21);
        using var model = RecurrentGemmaModel.Load(spec.Write());
        int v = model.Config.VocabSize, t = window + 4;
        var tokens = RandomTokens(new Random(5), t + 1, v);
        float[] baseline = FullPrefill(model, tokens);

        var outside = (int[])tokens.Clone();
        outside[t - window - 1] = (outside[t - window - 1] + 1) % v;
        Assert.Equal(baseline.AsSpan(t * v, v).ToArray(), FullPrefill(model, outside).AsSpan(t * v, v).ToArray());

        var inside = (int[])tokens.Clone();
        inside[t - window] = (inside[t - window] + 1) % v;
        Assert.NotEqual(baseline.AsSpan(t * v, v).ToArray(), FullPrefill(model, inside).AsSpan(t * v, v).ToArray());
    }

    [Fact]
    public void Decode_far_past_the_window_equals_prefill()
    {
        var model = Models[0].Value;     // window 5
        int v = model.Config.VocabSize;
        var tokens = RandomTokens(new Random(9), 64, v);
        float[] expected = FullPrefill(model, tokens);
        var state = model.CreateState();
        var pass = model.CreateForwardPass();
        var row = new float[v];
        for (int i = 0; i < tokens.Length; i++)
        {
            pass.Run([new BatchEntry(state, tokens.AsMemory(i, 1))], row);
            Assert.Equal(expected.AsSpan(i * v, v).ToArray(), row);
        }
    }

    [Fact]
    public void F32_and_F16_checkpoints_convert_to_the_same_bf16_model()
    {
        var spec = Specs[0];
        using var bf16 = RecurrentGemmaModel.Load(spec.Write(Core.Checkpoint.SafetensorsDType.BF16));
        using var f32 = RecurrentGemmaModel.Load(spec.Write(Core.Checkpoint.SafetensorsDType.F32));
        using var f16 = RecurrentGemmaModel.Load(spec.Write(Core.Checkpoint.SafetensorsDType.F16));
        var tokens = RandomTokens(new Random(3), 12, spec.Vocab);
        float[] expected = FullPrefill(bf16, tokens);
        Assert.Equal(expected, FullPrefill(f32, tokens));      // bf16-valued f32 weights round-trip exactly
        Tolerance.AssertClose(expected, FullPrefill(f16, tokens), 1e-3f, "f16 checkpoint");
    }

    [Fact]
    public void Lm_head_is_used_only_when_embeddings_are_untied()
    {
        var spec = new RandomModelSpec(WriteLmHead: true, Seed: 31);
        string dir = spec.Write();
        var tokens = RandomTokens(new Random(8), 6, spec.Vocab);
        float[] tied;
        using (var model = RecurrentGemmaModel.Load(dir))
        {
            Assert.True(model.Config.TieWordEmbeddings);
            tied = FullPrefill(model, tokens);
        }
        spec.WriteConfig(dir, json => json.WriteBoolean("tie_word_embeddings", false));   // last key wins
        using var untied = RecurrentGemmaModel.Load(dir);
        Assert.False(untied.Config.TieWordEmbeddings);
        Assert.NotEqual(tied, FullPrefill(untied, tokens));

        // Same embedding-as-head result when the stored lm_head is dropped entirely.
        using var noHead = RecurrentGemmaModel.Load((spec with { WriteLmHead = false }).Write());
        Assert.Equal(tied, FullPrefill(noHead, tokens));
    }

    [Fact]
    public void A_rejected_batch_changes_no_state_and_leaves_states_usable()
    {
        var model = Models[0].Value;
        int v = model.Config.VocabSize;
        var a = model.CreateState();
        var b = model.CreateState();
        var pass = model.CreateForwardPass();
        var logits = new float[2 * v];
        var e = Assert.Throws<Core.RecurrentGemmaException>(() => pass.Run([new BatchEntry(a, new[] { 1, 2 }), new BatchEntry(b, new[] { 3, v })], logits));
        Assert.Contains($"token id {v} at index 1 of batch entry 1", e.Message);
        Assert.Throws<ArgumentException>(() => pass.Run([new BatchEntry(a, new[] { 1 }), new BatchEntry(a, new[] { 2 })], logits));
        Assert.Throws<ArgumentException>(() => pass.Run([new BatchEntry(a, new[] { 1 })], new float[v - 1]));
        Assert.Equal((0, 0), (a.Position, b.Position));
        pass.Run([new BatchEntry(a, new[] { 1, 2 }), new BatchEntry(b, new[] { 3 })], logits);    // still usable
        Assert.Equal((2, 1), (a.Position, b.Position));
    }

    [Fact]
    public void Reset_state_reproduces_a_fresh_sequence()
    {
        var model = Models[1].Value;
        var tokens = RandomTokens(new Random(4), 10, model.Config.VocabSize);
        var state = model.CreateState();
        var pass = model.CreateForwardPass();
        var first = new float[tokens.Length * model.Config.VocabSize];
        pass.Run([new BatchEntry(state, tokens, true)], first);
        state.Reset();
        Assert.Equal(0, state.Position);
        var second = new float[first.Length];
        pass.Run([new BatchEntry(state, tokens, true)], second);
        Assert.Equal(first, second);
    }
}
