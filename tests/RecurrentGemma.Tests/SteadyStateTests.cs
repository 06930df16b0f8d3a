using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.State;
using RecurrentGemma.Kernels;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>Tests that read process-wide counters (every thread's allocations): they run alone, after the parallel tests.</summary>
[CollectionDefinition(nameof(ProcessWideCounters), DisableParallelization = true)]
public sealed class ProcessWideCounters;

/// <summary>
/// Long decodes hold still: no allocation on any thread (the caller and the pool's workers), and the state's real
/// buffers (the very arrays, not a formula) neither grow nor get replaced, far past the attention window.
/// </summary>
[Collection(nameof(ProcessWideCounters))]
public class SteadyStateTests
{
    static long TotalBytes(IEnumerable<float[]> arrays) => arrays.Sum(a => 4L * a.Length);

    [Fact]
    public void Twenty_thousand_decode_steps_allocate_nothing_on_any_thread_and_the_state_buffers_stay_put()
    {
        var spec = new RandomModelSpec(Hidden: 64, LruWidth: 64, Heads: 2, MlpWidth: 128, Layers: 3, Vocab: 300, Window: 5);
        using var model = RecurrentGemmaModel.Load(spec.Write(), threads: 2);
        var state = model.CreateState();
        var arrays = state.Arrays().ToArray();
        Assert.Equal(SequenceState.BytesFor(model.Config), TotalBytes(arrays));   // the formula describes the real buffers
        var pass = model.CreateForwardPass();
        var logits = new float[model.Config.VocabSize];
        var token = new int[1];
        var batch = new[] { new BatchEntry(state, token) };
        for (int i = 0; i < 100; i++)   // warm up past tiered JIT's promotion, which can allocate
        {
            pass.Run(batch, logits);
            if (i == 50) Thread.Sleep(300);
        }
        // Four windows of 5000 steps, each counting every thread's allocations. One allocation per step anywhere (the
        // smallest object is 24 bytes) is >= 120 KB in every window; the runtime's and the test host's own threads
        // allocate now and then, so the quietest window is the measure.
        var windows = new long[4];
        for (int w = 0; w < windows.Length; w++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < 5000; i++)
            {
                token[0] = Reductions.ArgMax(logits);
                pass.Run(batch, logits);
            }
            windows[w] = GC.GetTotalAllocatedBytes(precise: true) - before;
        }
        Assert.True(windows.Min() < 4_000, $"bytes allocated per 5000 decode steps (all threads): {string.Join(", ", windows)}");
        Assert.Equal(20_100, state.Position);
        Assert.Equal(arrays, state.Arrays().ToArray(), ReferenceEqualityComparer.Instance);
        Assert.Equal(SequenceState.BytesFor(model.Config), TotalBytes(state.Arrays()));
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
    }
}
