using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Core.Tokenizer;
using RecurrentGemma.Server.Generation;
using RecurrentGemma.Server.Metrics;
using RecurrentGemma.Server.Requests;

namespace RecurrentGemma.Server;

/// <summary>
/// What the endpoints share: the model (loaded in the background after the server starts listening, so /health can
/// answer 503 meanwhile), its conversation-state cache, the admission bound and the metrics.
/// </summary>
public sealed class ModelHost : IDisposable
{
    readonly Task<TextGenerator> _loading;
    PromptStateCache? _cache;

    public ServerOptions Options { get; }
    /// <summary>Where unexpected errors are reported (the CLI: stderr).</summary>
    public TextWriter Log { get; init; } = TextWriter.Null;
    public ServerMetrics Metrics { get; } = new();
    public Admission Admission { get; }
    /// <summary>When the server started (the model card's created time).</summary>
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    /// <summary>Completes when the model is loaded; faults with the loading error (a bad model folder).</summary>
    public Task Ready => _loading;

    /// <param name="open">Opens the generator with the scheduler options the server needs (its --max-sequences).</param>
    public ModelHost(ServerOptions options, Func<SchedulerOptions, TextGenerator> open)
    {
        Options = options.Validate();
        Admission = new Admission(options.MaxSequences + options.MaxQueue);
        var scheduler = new SchedulerOptions { MaxRunningSequences = options.MaxSequences, MemoryBudgetBytes = long.MaxValue };
        _loading = Task.Run(() =>
        {
            var generator = open(scheduler);
            if (generator.Tokenizer is null)
            {
                generator.Dispose();
                throw new Core.TokenizerException($"{generator.Model.Source} has no {GemmaTokenizer.FileName}; the server needs a tokenizer (--tokenizer)");
            }
            generator.MaxPromptTokens = options.MaxPromptTokens;
            _cache = new PromptStateCache(generator, options.StateCacheBytes);
            return generator;
        });
    }

    public bool IsLoaded => _loading.IsCompletedSuccessfully;

    /// <summary>The generator, or 503 while it loads.</summary>
    public TextGenerator Generator => IsLoaded ? _loading.Result
        : throw new ApiException(503, _loading.IsFaulted ? "the model failed to load" : "the model is still loading; retry shortly", code: "model_loading") { RetryAfterSeconds = 2 };

    public GemmaTokenizer Tokenizer => Generator.Tokenizer!;
    public PromptStateCache Cache => IsLoaded ? _cache! : throw new ApiException(503, "the model is still loading", code: "model_loading") { RetryAfterSeconds = 2 };

    public string MetricsText() =>
        Metrics.Write(IsLoaded ? Generator.Scheduler.Statistics() : null, Admission.InFlight, _cache?.Count ?? 0, _cache?.Bytes ?? 0);

    public void Dispose()
    {
        try { _loading.Wait(); } catch (AggregateException) { return; }
        _loading.Result.Dispose();
    }
}
