using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(RecurrentGemma.Bench.MatMulBf16Benchmarks).Assembly).Run(args);
