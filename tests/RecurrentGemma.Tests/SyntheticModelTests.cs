using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>random:... models: real shapes, deterministic weights, and results that do not depend on the thread count.</summary>
public class SyntheticModelTests
{
    static string Config(RandomModelSpec spec)
    {
        string dir = TestData.NewTempDirectory();
        spec.WriteConfig(dir);
        return Path.Combine(dir, "config.json");
    }

    static float[] Logits(RecurrentGemmaModel model, int[] tokens)
    {
        var logits = new float[tokens.Length * model.Config.VocabSize];
        model.CreateForwardPass().Run([new BatchEntry(model.CreateState(), tokens, AllLogits: true)], logits);
        return logits;
    }

    [Fact]
    public void Same_spec_gives_the_same_logits_with_any_thread_count()
    {
        string config = Config(new RandomModelSpec(Hidden: 64, LruWidth: 96, Heads: 2, MlpWidth: 160, Layers: 3, Vocab: 500));
        int[] tokens = [2, 17, 400, 3, 99, 250];
        using var one = RecurrentGemmaModel.Open("random:" + config, threads: 1);
        using var three = RecurrentGemmaModel.Open("random:" + config, threads: 3);
        var a = Logits(one, tokens);
        Assert.Equal(a, Logits(three, tokens));
        Assert.All(a, v => Assert.True(float.IsFinite(v)));
        Assert.True(a.Max() - a.Min() > 0.1f, "synthetic weights should give non-trivial logits");
    }
}
