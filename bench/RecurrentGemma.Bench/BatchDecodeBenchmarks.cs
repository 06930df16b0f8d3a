using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using RecurrentGemma.Benchmarking;
using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.State;

namespace RecurrentGemma.Bench;

/// <summary>
/// One decode step of B sequences together on random:2b (all cores), each sequence 512 tokens in (one prefill, forked):
/// the aggregate throughput is B tokens per step. Bytes and FLOPs per step come from <see cref="ModelCost"/>, at
/// position 512 — so every invocation must run at position 512: each starts from the prefilled state, restored
/// before it (one invocation per iteration, the restore outside the timing).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
[InvocationCount(1, unrollFactor: 1)]
public class BatchDecodeBenchmarks : IThroughputWorkload
{
    const int Prompt = 512;
    static readonly Lazy<RecurrentGemmaModel> Model = new(() => RecurrentGemmaModel.Open("random:2b"));
    ForwardPass _pass = null!;
    SequenceState _prefilled = null!;
    BatchEntry[] _entries = [];
    float[] _logits = [];

    [Params(1, 16, 64)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var model = Model.Value;
        _pass = model.CreateForwardPass(256);
        var prompt = new int[Prompt];
        for (int i = 0; i < prompt.Length; i++) prompt[i] = 3 + i * 37 % 1000;
        _prefilled = model.CreateState();
        _logits = new float[Batch * model.Config.VocabSize];
        _pass.Run([new BatchEntry(_prefilled, prompt)], _logits);
        _entries = new BatchEntry[Batch];
        for (int s = 0; s < Batch; s++) _entries[s] = new BatchEntry(model.CreateState(), new[] { 7 + s });
    }

    /// <summary>Back to 512 tokens in for every sequence, so the step measured is the step the FLOP count describes.</summary>
    [IterationSetup]
    public void RestorePosition()
    {
        foreach (var e in _entries) e.State.CopyFrom(_prefilled);
    }

    [Benchmark]
    public void DecodeStep() => _pass.Run(_entries, _logits);

    public (double Bytes, double Flops) Work(BenchmarkCase b)
    {
        int batch = b.Int(nameof(Batch));
        return (ModelCost.DecodeStepBytes(ModelConfig.RecurrentGemma2B, batch), ModelCost.DecodeStepFlops(ModelConfig.RecurrentGemma2B, batch, Prompt));
    }
}
