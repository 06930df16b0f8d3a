using RecurrentGemma.Core.Model;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>The step profile watches without touching: the same logits with or without it, time in every phase a pass has.</summary>
public class StepProfileTests
{
    [Fact]
    public void A_profiled_pass_gives_the_same_logits_and_times_every_phase_it_runs()
    {
        using var model = RecurrentGemmaModel.Load(TestData.Golden("tiny-a"));   // recurrent and attention layers
        int[] tokens = [2, 17, 40, 99, 3, 250, 7];
        int v = model.Config.VocabSize;
        var plain = new float[tokens.Length * v];
        model.CreateForwardPass().Run([new BatchEntry(model.CreateState(), tokens, AllLogits: true)], plain);

        var pass = model.CreateForwardPass();
        var profile = new StepProfile();
        pass.Profile = profile;
        var profiled = new float[tokens.Length * v];
        pass.Run([new BatchEntry(model.CreateState(), tokens, AllLogits: true)], profiled);
        Assert.Equal(plain, profiled);
        foreach (var phase in new[] { StepPhase.Matmul, StepPhase.Attention, StepPhase.Recurrence, StepPhase.Elementwise, StepPhase.LogitsHead })
            Assert.True(profile.Seconds(phase) > 0, $"{phase}");
        Assert.Equal(0, profile.Seconds(StepPhase.Sampling));   // the caller's to time

        double before = profile.TotalSeconds;
        pass.Profile = null;
        pass.Run([new BatchEntry(model.CreateState(), tokens)], profiled.AsSpan(0, v));
        Assert.Equal(before, profile.TotalSeconds);              // detached: nothing more is added
        profile.Reset();
        Assert.Equal(0, profile.TotalSeconds);
    }
}
