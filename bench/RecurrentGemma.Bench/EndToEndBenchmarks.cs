using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using RecurrentGemma.Benchmarking;
using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.State;

namespace RecurrentGemma.Bench;

/// <summary>
/// The whole forward pass on random:2b (real 2B shapes, synthetic bf16 weights, all cores): one decode step of one
/// sequence 64 tokens in, and a 64-token prefill from position 0. Bytes and FLOPs come from <see cref="ModelCost"/>,
/// as in rgemma bench. Each invocation starts from the same state (restored before it, outside the timing), so the
/// position never drifts over a run.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
[InvocationCount(1, unrollFactor: 1)]
public class EndToEndBenchmarks : IThroughputWorkload
{
    const int PrefillTokens = 64;
    static readonly Lazy<RecurrentGemmaModel> Model = new(() => RecurrentGemmaModel.Open("random:2b"));
    ForwardPass _pass = null!;
    SequenceState _state = null!, _prefilled = null!;
    float[] _logits = [];
    int[] _token = [7], _prompt = [];
    BatchEntry[] _decode = [];

    [GlobalSetup]
    public void Setup()
    {
        var model = Model.Value;
        _pass = model.CreateForwardPass();
        _state = model.CreateState();
        _logits = new float[model.Config.VocabSize];
        _prompt = new int[PrefillTokens];
        for (int i = 0; i < _prompt.Length; i++) _prompt[i] = 3 + i * 37 % 1000;
        _decode = [new BatchEntry(_state, _token)];
        _prefilled = model.CreateState();
        _pass.Run([new BatchEntry(_prefilled, _prompt)], _logits);
    }

    [IterationSetup(Target = nameof(DecodeStep))]
    public void RestorePrefilled() => _state.CopyFrom(_prefilled);

    [IterationSetup(Target = nameof(Prefill64))]
    public void RestoreEmpty() => _state.Reset();

    [Benchmark]
    public void DecodeStep() => _pass.Run(_decode, _logits);

    [Benchmark]
    public void Prefill64() => _pass.Run([new BatchEntry(_state, _prompt)], _logits);

    public (double Bytes, double Flops) Work(BenchmarkCase b) => b.Descriptor.WorkloadMethod.Name == nameof(DecodeStep)
        ? (ModelCost.DecodeBytesPerToken(ModelConfig.RecurrentGemma2B), 0)
        : (0, ModelCost.PrefillFlops(ModelConfig.RecurrentGemma2B, PrefillTokens));
}
