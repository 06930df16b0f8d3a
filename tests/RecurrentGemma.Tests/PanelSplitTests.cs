using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Parallel;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>
/// The matmuls' panel split, both ways (tasks; streams with stealing): every panel runs exactly once, in runs that start
/// on a granule, for any panel count, granule and thread count, also when one thread stalls (its range is stolen).
/// </summary>
public class PanelSplitTests
{
    sealed class RecordingWork(int panels, int granule, int stallFirstRunMs) : IPanelWork
    {
        public readonly int[] Hits = new int[panels];
        public int Runs, MisalignedRuns, Stalled;

        public void RunPanels(int first, int end)
        {
            Interlocked.Increment(ref Runs);
            if (first % granule != 0 || (end != Hits.Length && end % granule != 0) || end <= first) Interlocked.Increment(ref MisalignedRuns);
            // The first run of the job stalls, so the other threads run out of their ranges and steal from it.
            if (stallFirstRunMs > 0 && Interlocked.Exchange(ref Stalled, 1) == 0) Thread.Sleep(stallFirstRunMs);
            for (int p = first; p < end; p++) Interlocked.Increment(ref Hits[p]);
        }
    }

    [Property(MaxTest = 150)]
    public Property Every_panel_runs_exactly_once_in_granule_aligned_runs()
    {
        var gen = from panels in Gen.Choose(1, 400)
                  from granule in Gen.Elements(1, 2, 4)
                  from threads in Gen.Choose(1, 6)
                  from streams in Gen.Elements(true, false)
                  from stall in Gen.Elements(0, 0, 3)
                  select (panels, granule, threads, streams, stall);
        return Prop.ForAll(gen.ToArbitrary(), c =>
        {
            var (panels, granule, threads, streams, stall) = c;
            var pool = new WorkerPool(threads);
            var split = new PanelSplit();
            for (int job = 0; job < 3; job++)   // one split object reused, as each matmul job does
            {
                var work = new RecordingWork(panels, granule, stall);
                split.Run(work, panels, granule, streams, pool);
                int wrong = Array.FindIndex(work.Hits, h => h != 1);
                if (wrong >= 0)
                    return false.Label($"job {job}: panel {wrong} of {panels} ran {work.Hits[wrong]} times (granule {granule}, {threads} threads, streams {streams})");
                if (work.MisalignedRuns > 0) return false.Label($"job {job}: {work.MisalignedRuns} runs not on a granule");
            }
            return true.ToProperty();
        });
    }
}
