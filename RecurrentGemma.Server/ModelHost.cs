using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Core.Tokenizer;
using RecurrentGemma.Server.Generation;
using RecurrentGemma.Server.Metrics;
using RecurrentGemma.Server.Requests;

namespace RecurrentGemma.Server;

/// <summary>
/// What the endpoints share: the model (loaded in the background after the server starts listening, so /health can
/// answer 503 meanwhile), the one memory budget every sequence and cached state lives in, its conversation-state
/// cache, the admission bound, the tokenizing gate and the metrics.
/// </summary>
public sealed class ModelHost : IDisposable
{
    readonly Task<TextGenerator> _loading;
    PromptStateCache? _cache;
    MemoryBudget? _memory;
    TokenizerGate? _tokenizing;

    public ServerOptions Options { get; }
    /// <summary>Where errors, engine faults and the budget are reported (ASP.NET Core's logging once the server runs).</summary>
    public ILogger Logger { get; internal set; } = NullLogger.Instance;
    public ServerMetrics Metrics { get; } = new();
    public Admission Admission { get; }
    /// <summary>The places for parsing large request bodies (<see cref="RequestReader.LargeBodiesAtOnce"/>).</summary>
    public SemaphoreSlim LargeBodies { get; } = new(RequestReader.LargeBodiesAtOnce, RequestReader.LargeBodiesAtOnce);
    /// <summary>When the server started (the model card's created time).</summary>
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    /// <summary>Completes when the model is loaded; faults with the loading error (a bad model folder, a budget too small for it).</summary>
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
            try
            {
                if (generator.Tokenizer is null)
                    throw new Core.TokenizerException($"{generator.Model.Source} has no {GemmaTokenizer.FileName}; the server needs a tokenizer (--tokenizer)");
                generator.MaxPromptTokens = options.MaxPromptTokens;
                // The engine's step buffers exist from here on; what the machine can spare is measured after them and the weights.
                long fixedBytes = generator.Scheduler.FixedBytes;
                long capacity = options.MemoryBudgetBytes ?? fixedBytes + (long)(MemoryBudget.SpareBytes() * ServerOptions.DefaultBudgetShare);
                _memory = new MemoryBudget(generator.Model.Config, capacity, fixedBytes, historyTokens: options.MaxPromptTokens + options.MaxTokensCap);
                _cache = new PromptStateCache(generator, options.StateCacheBytes, _memory);
                _tokenizing = new TokenizerGate(generator.Tokenizer, options.MaxPromptTokens, Math.Max(1, Environment.ProcessorCount));
                return generator;
            }
            catch
            {
                generator.Dispose();
                throw;
            }
        });
    }

    public bool IsLoaded => _loading.IsCompletedSuccessfully;

    /// <summary>The generator, or 503 while it loads.</summary>
    public TextGenerator Generator => IsLoaded ? _loading.Result
        : throw new ApiException(503, _loading.IsFaulted ? "the model failed to load" : "the model is still loading; retry shortly", code: "model_loading") { RetryAfterSeconds = 2 };

    public GemmaTokenizer Tokenizer => Generator.Tokenizer!;
    public PromptStateCache Cache => Loaded(_cache);
    public MemoryBudget Memory => Loaded(_memory);
    public TokenizerGate Tokenizing => Loaded(_tokenizing);

    T Loaded<T>(T? value) where T : class => IsLoaded ? value! : throw new ApiException(503, "the model is still loading", code: "model_loading") { RetryAfterSeconds = 2 };

    /// <summary>The budget in words, for the start line and the log.</summary>
    public string DescribeMemory()
    {
        var m = Memory;
        string source = Options.MemoryBudgetBytes is null ? $"default: {ServerOptions.DefaultBudgetShare:P0} of what this machine could spare after loading" : "--memory-budget-mb";
        return $"memory budget {Mb(m.CapacityBytes)} ({source}): engine buffers {Mb(m.FixedBytes)}, {Mb(m.BlockBytes)} a sequence, "
            + $"so at most {m.MaxBlocks} sequences running, queued or cached at once";
    }

    static string Mb(long bytes) => $"{bytes / (1024.0 * 1024):0.#} MB";

    public string MetricsText() =>
        Metrics.Write(IsLoaded ? Generator.Scheduler.Statistics() : null, Admission.InFlight, _cache?.Count ?? 0, _cache?.Bytes ?? 0, IsLoaded ? _memory : null);

    public void Dispose()
    {
        try { _loading.Wait(); } catch (AggregateException) { return; }
        _loading.Result.Dispose();
        LargeBodies.Dispose();
    }
}
