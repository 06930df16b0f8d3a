using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using RecurrentGemma.Core.Serving;

namespace RecurrentGemma.Server.Metrics;

/// <summary>
/// The server's counters, in the shape llama-server and vLLM users scrape: requests by endpoint and status, prompt /
/// cached / generated tokens, queue depth and running sequences, the batch size of each engine step, and time-to-first-
/// token and inter-token latency histograms. <see cref="Write"/> renders the Prometheus text format (version 0.0.4).
/// </summary>
public sealed class ServerMetrics
{
    readonly ConcurrentDictionary<(string Endpoint, int Status), long> _requests = new();
    long _promptTokens, _cachedTokens, _generatedTokens;

    public Histogram TimeToFirstToken { get; } = new("rgemma_time_to_first_token_seconds", "Time from a request's arrival to its first generated token.", Histogram.LatencyBounds);
    public Histogram InterTokenLatency { get; } = new("rgemma_inter_token_latency_seconds", "Time between consecutive tokens of one choice.", Histogram.LatencyBounds);

    public void Request(string endpoint, int status) => _requests.AddOrUpdate((endpoint, status), 1, static (_, n) => n + 1);

    public void Prompt(int prompt, int cached)
    {
        Interlocked.Add(ref _promptTokens, prompt);
        Interlocked.Add(ref _cachedTokens, cached);
    }

    /// <summary>One token generated (counted as it streams, so a cancelled request's tokens count too).</summary>
    public void Generated() => Interlocked.Increment(ref _generatedTokens);

    public long GeneratedTokens => Interlocked.Read(ref _generatedTokens);

    /// <summary>The exposition text; <paramref name="engine"/> is null while the model loads.</summary>
    public string Write(SchedulerStatistics? engine, int admitted, int cacheEntries, long cacheBytes, MemoryBudget? memory = null)
    {
        var text = new StringBuilder();
        text.Append("# HELP rgemma_requests_total Requests answered, by endpoint and HTTP status.\n# TYPE rgemma_requests_total counter\n");
        foreach (var ((endpoint, status), count) in _requests.OrderBy(p => p.Key.Endpoint, StringComparer.Ordinal).ThenBy(p => p.Key.Status))
            text.Append("rgemma_requests_total{endpoint=\"").Append(endpoint).Append("\",status=\"").Append(status).Append("\"} ").Append(count).Append('\n');
        Counter(text, "rgemma_prompt_tokens_total", "Prompt tokens of finished requests, cached ones included.", Interlocked.Read(ref _promptTokens));
        Counter(text, "rgemma_prompt_tokens_cached_total", "Prompt tokens whose state came from the conversation-state cache.", Interlocked.Read(ref _cachedTokens));
        Counter(text, "rgemma_generated_tokens_total", "Tokens generated, all choices, cancelled requests included.", GeneratedTokens);
        Gauge(text, "rgemma_requests_admitted", "Sequences admitted (running or queued for a slot).", admitted);
        Gauge(text, "rgemma_queue_depth", "Sequences waiting in the engine's queue for a slot.", engine?.QueuedRequests ?? 0);
        Gauge(text, "rgemma_running_sequences", "Sequences the engine is running.", engine?.RunningSequences ?? 0);
        Gauge(text, "rgemma_state_cache_entries", "Conversation states in the cache.", cacheEntries);
        Gauge(text, "rgemma_state_cache_bytes", "Memory the cached states take.", cacheBytes);
        if (memory is not null)
        {
            Gauge(text, "rgemma_memory_budget_bytes", "The server's memory budget (--memory-budget-mb): engine buffers plus every sequence and cached state.", memory.CapacityBytes);
            Gauge(text, "rgemma_memory_used_bytes", "Budget in use: engine buffers, live sequences and cached states.", memory.UsedBytes);
            Gauge(text, "rgemma_memory_idle_bytes", "Sequence memory given back and kept for the next request (inside the budget, not in use).", memory.IdleBytes);
            Gauge(text, "rgemma_memory_waiting_requests", "Admitted requests waiting for sequence memory.", memory.Waiting);
        }
        if (engine is not null) BatchSizes(text, engine);
        TimeToFirstToken.WriteTo(text);
        InterTokenLatency.WriteTo(text);
        return text.ToString();
    }

    static void BatchSizes(StringBuilder text, SchedulerStatistics engine)
    {
        const string name = "rgemma_batch_size";
        text.Append("# HELP ").Append(name).Append(" Sequences fed together in one engine step.\n# TYPE ").Append(name).Append(" histogram\n");
        long cumulative = 0;
        for (int i = 0; i < engine.StepsByBatchSize.Count; i++)
        {
            cumulative += engine.StepsByBatchSize[i];
            // The last bucket also holds larger steps, so it is only a bound below the top.
            if (i < engine.StepsByBatchSize.Count - 1)
                text.Append(name).Append("_bucket{le=\"").Append(SchedulerStatistics.BatchSizeBuckets[i]).Append("\"} ").Append(cumulative).Append('\n');
        }
        text.Append(name).Append("_bucket{le=\"+Inf\"} ").Append(engine.Steps).Append('\n');
        text.Append(name).Append("_sum ").Append(engine.StepSequences).Append('\n');
        text.Append(name).Append("_count ").Append(engine.Steps).Append('\n');
    }

    static void Counter(StringBuilder text, string name, string help, long value) => Sample(text, name, help, "counter", value);
    static void Gauge(StringBuilder text, string name, string help, long value) => Sample(text, name, help, "gauge", value);

    static void Sample(StringBuilder text, string name, string help, string type, long value) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n')
            .Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
}
