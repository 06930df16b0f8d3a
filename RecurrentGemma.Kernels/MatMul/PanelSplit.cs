using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Kernels.MatMul;

/// <summary>How a matmul shares its panels among threads: a few tasks per thread (to balance), each a run of whole panels.</summary>
internal static class PanelSplit
{
    /// <summary>Panels per task, a multiple of <paramref name="granule"/> (a tile that takes several panels at once).</summary>
    public static int PanelsPerTask(int panels, WorkerPool? pool, int granule = 1)
    {
        int perTask = Math.Max(1, panels / ((pool?.Threads ?? 1) * 4));
        return (perTask + granule - 1) / granule * granule;
    }

    /// <summary>Runs the tasks on the pool, or in order on this thread without one.</summary>
    public static void Run(IParallelWork job, int panels, int panelsPerTask, WorkerPool? pool)
    {
        int tasks = (panels + panelsPerTask - 1) / panelsPerTask;
        if (pool is null) for (int t = 0; t < tasks; t++) job.Execute(t);
        else pool.Run(job, tasks);
    }
}
