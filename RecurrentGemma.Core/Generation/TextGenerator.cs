using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Core.Tokenizer;

namespace RecurrentGemma.Core.Generation;

/// <summary>
/// The public entry point: a loaded model and (optionally) its tokenizer. Load once, share across threads, and create
/// a <see cref="GenerationSession"/> per conversation. Without a tokenizer, sessions work on token ids only.
/// </summary>
public sealed class TextGenerator : IDisposable
{
    public RecurrentGemmaModel Model { get; }
    public GemmaTokenizer? Tokenizer { get; }
    /// <summary>Prompts longer than this many tokens are refused (the state is constant-size; this bounds a request's time).</summary>
    public int MaxPromptTokens { get; set; } = 65536;

    readonly bool _ownsModel;

    /// <param name="ownsModel">Whether <see cref="Dispose"/> disposes the model too (false: several generators share one model).</param>
    public TextGenerator(RecurrentGemmaModel model, GemmaTokenizer? tokenizer, bool ownsModel = true)
    {
        _ownsModel = ownsModel;
        tokenizer?.RequireVocabularySize(model.Config.VocabSize);
        Model = model;
        Tokenizer = tokenizer;
    }

    /// <summary>
    /// Opens a model spec (directory or random:...) with the tokenizer at <paramref name="tokenizerPath"/>, or else the
    /// model directory's tokenizer.model when there is one.
    /// </summary>
    public static TextGenerator Open(string modelSpec, string? tokenizerPath = null, int threads = 0, Action<double>? loadProgress = null,
        SchedulerOptions? schedulerOptions = null) =>
        Open(modelSpec, new ModelLoadOptions { Threads = threads, Progress = loadProgress }, tokenizerPath, schedulerOptions);

    /// <inheritdoc cref="Open(string, string?, int, Action{double}?, SchedulerOptions?)"/>
    public static TextGenerator Open(string modelSpec, ModelLoadOptions loadOptions, string? tokenizerPath = null, SchedulerOptions? schedulerOptions = null)
    {
        GemmaTokenizer? tokenizer = tokenizerPath is not null ? GemmaTokenizer.Load(tokenizerPath)
            : File.Exists(Path.Combine(modelSpec, GemmaTokenizer.FileName)) ? GemmaTokenizer.Load(modelSpec)
            : null;
        var model = RecurrentGemmaModel.Open(modelSpec, loadOptions);
        try
        {
            return new TextGenerator(model, tokenizer) { SchedulerOptions = (schedulerOptions ?? new SchedulerOptions()).Validate() };
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    readonly Lock _schedulerLock = new();
    BatchScheduler? _scheduler;
    bool _disposed;

    /// <summary>The engine every session of this generator submits to, created on first use (so concurrent callers batch).</summary>
    public BatchScheduler Scheduler
    {
        get
        {
            lock (_schedulerLock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                return _scheduler ??= new BatchScheduler(Model, Tokenizer, SchedulerOptions);
            }
        }
    }

    /// <summary>Options of <see cref="Scheduler"/>; set before the first session runs.</summary>
    public SchedulerOptions SchedulerOptions { get; init; } = new();

    public GenerationSession CreateSession() => new(this);

    /// <summary>A fresh session in the memory of <paramref name="block"/> (given back when the session is disposed).</summary>
    public GenerationSession CreateSession(StateBlock block)
    {
        CheckBlock(block);
        block.State.Reset();   // a block comes back from its last sequence as it left it
        return new GenerationSession(this, block);
    }

    internal void CheckBlock(StateBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        if (block.Config != Model.Config) throw new ArgumentException("the block was made for another model config", nameof(block));
        if (Volatile.Read(ref block.Rented) == 0) throw new InvalidOperationException("the block is not rented (it was given back to its budget)");
    }

    public GemmaTokenizer RequireTokenizer() =>
        Tokenizer ?? throw new TokenizerException($"{Model.Source} has no {GemmaTokenizer.FileName}; open the generator with a tokenizer path, or pass token ids");

    public void Dispose()
    {
        lock (_schedulerLock)
        {
            if (_disposed) return;
            _disposed = true;
            _scheduler?.Dispose();
        }
        if (_ownsModel) Model.Dispose();
    }
}
