using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using RecurrentGemma.Kernels.Parallel;
using RecurrentGemma.Benchmarking;

namespace RecurrentGemma.Bench;

/// <summary>What one invocation of a benchmark moves and computes, so the report can show GB/s and GFLOP/s.</summary>
public interface IThroughputWorkload
{
    /// <summary>Bytes that must cross the memory bus (cold weights, state) and FLOPs, for one call with these parameters.</summary>
    (double Bytes, double Flops) Work(BenchmarkCase benchmark);
}

/// <summary>
/// GB/s and GFLOP/s per benchmark, each also as a fraction of this machine's limits, which the host measures with the
/// engine's own probes (<see cref="MachineLimits"/>) when the report is built, so the fractions survive a noisy machine.
/// </summary>
public sealed class ThroughputColumn(bool flops) : IColumn
{
    static readonly Lazy<(double BandwidthGBs, double FmaGflops)> Limits = new(() =>
    {
        // The best of three spaced readings: a shared machine's neighbours take bandwidth in bursts.
        using var pool = new WorkerPool();
        double bandwidth = 0, fma = 0;
        for (int i = 0; i < 3; i++)
        {
            bandwidth = Math.Max(bandwidth, MachineLimits.MeasureReadBandwidth(pool));
            fma = Math.Max(fma, MachineLimits.MeasureFmaPeak(pool));
            Thread.Sleep(1000);
        }
        return (bandwidth, fma);
    });

    public string Id => flops ? "GFLOPs" : "GBs";
    public string ColumnName => flops ? $"GFLOP/s (% of {Limits.Value.FmaGflops:F0})" : $"GB/s (% of {Limits.Value.BandwidthGBs:F1})";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => flops ? 1 : 0;
    public bool IsNumeric => false;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => flops
        ? "f32 FLOPs per second, and the fraction of the FMA peak measured on all cores"
        : "bytes per second that must come from memory, and the fraction of the measured read bandwidth";

    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics is null) return "-";
        if (Activator.CreateInstance(benchmarkCase.Descriptor.Type) is not IThroughputWorkload workload) return "-";
        var (bytes, flopCount) = workload.Work(benchmarkCase);
        double seconds = report.ResultStatistics.Mean / 1e9;
        double amount = flops ? flopCount : bytes;
        if (amount <= 0) return "-";
        double rate = amount / seconds / 1e9;
        double limit = flops ? Limits.Value.FmaGflops : Limits.Value.BandwidthGBs;
        return $"{rate:F1} ({rate / limit:P0})";
    }
}

public sealed class ThroughputConfig : ManualConfig
{
    public ThroughputConfig()
    {
        AddColumn(new ThroughputColumn(flops: false), new ThroughputColumn(flops: true));
    }
}

static class BenchmarkCaseExtensions
{
    public static int Int(this BenchmarkCase b, string name) => (int)b.Parameters[name];
}
