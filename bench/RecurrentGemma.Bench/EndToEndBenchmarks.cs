using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using RecurrentGemma.Core.Benchmarking;
using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.State;

namespace RecurrentGemma.Bench;

/// <summary>
/// The whole forward pass on random:2b (real 2B shapes, synthetic bf16 weights, all cores): one decode step of one
/// sequence, and a 64-token prefill chunk. Bytes and FLOPs come from <see cref="ModelCost"/>, as in rgemma bench.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class EndToEndBenchmarks : IThroughputWorkload
{
    const int PrefillTokens = 64;
    static readonly Lazy<RecurrentGemmaModel> Model = new(() => RecurrentGemmaModel.Open("random:2b"));
    ForwardPass _pass = null!;
    SequenceState _state = null!;
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
        _pass.Run([new BatchEntry(_state, _prompt)], _logits);
    }

    [Benchmark]
    public void DecodeStep() => _pass.Run(_decode, _logits);

    [Benchmark]
    public void Prefill64()
    {
        _state.Reset();
        _pass.Run([new BatchEntry(_state, _prompt)], _logits);
    }

    public (double Bytes, double Flops) Work(BenchmarkCase b) => b.Descriptor.WorkloadMethod.Name == nameof(DecodeStep)
        ? (ModelCost.DecodeBytesPerToken(ModelConfig.RecurrentGemma2B), 0)
        : (0, ModelCost.PrefillFlops(ModelConfig.RecurrentGemma2B, PrefillTokens));
}
