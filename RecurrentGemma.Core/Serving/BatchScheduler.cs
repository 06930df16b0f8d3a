using System.Diagnostics;
using System.Runtime.InteropServices;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.State;
using RecurrentGemma.Core.Tokenizer;

namespace RecurrentGemma.Core.Serving;

/// <summary>
/// Continuous batching. Requests queue up; each engine step builds one ragged batch from one decode token of every
/// running sequence plus prefill chunks of new ones (bounded by <see cref="SchedulerOptions.MaxTokensPerStep"/>), runs
/// the matmuls once over all rows and conv/scan/attention on each sequence's own state, then samples every sequence
/// whose logits are ready. A sequence that finishes or is cancelled leaves at once and its state goes back to a pool.
/// Admission is by memory: at most budget / state-bytes sequences run; the rest wait. Because a row's logits never
/// depend on the batch around it, every request gets exactly the tokens it would get alone (same seed, same ids).
/// </summary>
public sealed class BatchScheduler : IDisposable
{
    readonly RecurrentGemmaModel _model;
    readonly GemmaTokenizer? _tokenizer;
    readonly SchedulerOptions _options;
    readonly ForwardPass _pass;
    readonly Queue<Sequence> _waiting = new();
    readonly List<Sequence> _running = [];
    readonly Stack<SequenceState> _pool = new();
    readonly List<BatchEntry> _entries = [];
    readonly List<(Sequence Seq, int Fed)> _fed = [];
    readonly float[] _logits;
    readonly SemaphoreSlim _wake = new(0);
    readonly Thread _engine;
    volatile bool _stopping;
    Exception? _fault;

    public int MaxConcurrentSequences { get; }
    public long StateBytesPerSequence { get; }

    public BatchScheduler(RecurrentGemmaModel model, GemmaTokenizer? tokenizer = null, SchedulerOptions? options = null)
    {
        _model = model;
        _tokenizer = tokenizer;
        _options = (options ?? new SchedulerOptions()).Validate();
        StateBytesPerSequence = SequenceState.BytesFor(model.Config);
        MaxConcurrentSequences = (int)Math.Clamp(_options.MemoryBudgetBytes / StateBytesPerSequence, 1, 1 << 16);
        _pass = model.CreateForwardPass(_options.MaxTokensPerStep);
        _logits = new float[Math.Min(MaxConcurrentSequences, _options.MaxTokensPerStep) * model.Config.VocabSize];
        _engine = new Thread(EngineLoop) { IsBackground = true, Name = "rgemma-scheduler" };
        _engine.Start();
    }

    sealed class Sequence(int[] prompt, TokenSelector selector, RequestHandle handle, CancellationToken cancellation)
    {
        public readonly int[] Prompt = prompt;
        public readonly TokenSelector Selector = selector;
        public readonly RequestHandle Handle = handle;
        public readonly CancellationToken Cancellation = cancellation;
        public readonly List<int> History = [];
        public readonly int[] Last = new int[1];
        public SequenceState? State;
        public int Fed;   // prompt tokens fed so far
        public long Submitted = Stopwatch.GetTimestamp(), FirstToken;
        public bool Decoding => Fed == Prompt.Length;
    }

    /// <summary>
    /// Queues a request. Bad input (empty prompt, ids outside the vocabulary, invalid sampling parameters) throws here and
    /// never reaches the engine, so it cannot disturb other requests.
    /// </summary>
    public RequestHandle Submit(int[] promptIds, SamplingParameters parameters, CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        if (_fault is { } fault) throw new InvalidOperationException("the scheduler stopped after an internal error", fault);
        if (promptIds.Length == 0) throw new RecurrentGemmaException("the prompt is empty");
        int vocab = _model.Config.VocabSize;
        for (int i = 0; i < promptIds.Length; i++)
            if ((uint)promptIds[i] >= (uint)vocab) throw new RecurrentGemmaException($"token id {promptIds[i]} at index {i} is outside the vocabulary [0, {vocab})");
        var handle = new RequestHandle();
        var seq = new Sequence((int[])promptIds.Clone(), new TokenSelector(parameters, vocab, _model.Config.EosTokenId, _tokenizer), handle, cancellation);
        lock (_waiting) _waiting.Enqueue(seq);
        _wake.Release();
        return handle;
    }

    void EngineLoop()
    {
        try
        {
            while (!_stopping)
            {
                Admit();
                if (_running.Count == 0)
                {
                    _wake.Wait(100);
                    continue;
                }
                Step();
            }
        }
        catch (Exception e)
        {
            _fault = e;
            lock (_waiting) foreach (var s in _waiting) s.Handle.Done.TrySetException(e);
            foreach (var s in _running) s.Handle.Done.TrySetException(e);
        }
    }

    void Admit()
    {
        lock (_waiting)
        {
            while (_waiting.Count > 0 && _running.Count < MaxConcurrentSequences)
            {
                var seq = _waiting.Dequeue();
                if (seq.Cancellation.IsCancellationRequested) { Finish(seq, StopReason.Cancelled); continue; }
                seq.State = _pool.Count > 0 ? _pool.Pop() : _model.CreateState();
                seq.State.Reset();
                _running.Add(seq);
            }
        }
    }

    /// <summary>One engine step: decodes first (one row each), then prefill chunks in arrival order while rows remain.</summary>
    void Step()
    {
        foreach (var seq in _running)
            if (seq.Cancellation.IsCancellationRequested) Finish(seq, StopReason.Cancelled);   // frees its slot now, even mid-prompt
        _running.RemoveAll(s => s.State is null);
        if (_running.Count == 0) return;
        _entries.Clear();
        _fed.Clear();
        int budget = _options.MaxTokensPerStep;
        foreach (var seq in _running)
            if (seq.Decoding && budget > 0 && seq.History.Count > 0)
            {
                _entries.Add(new BatchEntry(seq.State!, seq.Last));
                _fed.Add((seq, 0));
                budget--;
            }
        foreach (var seq in _running)
        {
            if (seq.Decoding || budget == 0) continue;
            int n = Math.Min(Math.Min(_options.PrefillChunk, seq.Prompt.Length - seq.Fed), budget);
            _entries.Add(new BatchEntry(seq.State!, seq.Prompt.AsMemory(seq.Fed, n)));
            _fed.Add((seq, n));
            budget -= n;
        }
        int vocab = _model.Config.VocabSize;
        _pass.Run(CollectionsMarshal.AsSpan(_entries), _logits);
        for (int i = 0; i < _fed.Count; i++)
        {
            var (seq, fed) = _fed[i];
            seq.Fed += fed;
            if (!seq.Decoding) continue;   // mid-prompt: no token yet
            if (fed > 0) seq.History.AddRange(seq.Prompt);
            var row = _logits.AsSpan(i * vocab, vocab);
            if (!seq.Selector.Next(row, CollectionsMarshal.AsSpan(seq.History), seq.Cancellation.IsCancellationRequested, out var token))
            {
                Finish(seq, seq.Selector.Stopped!.Value);
                continue;
            }
            if (seq.FirstToken == 0) seq.FirstToken = Stopwatch.GetTimestamp();
            seq.History.Add(token.Id);
            seq.Last[0] = token.Id;
            seq.Handle.Channel.Writer.TryWrite(token);
            if (seq.Selector.Stopped is { } reason) Finish(seq, reason);
        }
        _running.RemoveAll(s => s.State is null);
    }

    void Finish(Sequence seq, StopReason reason)
    {
        if (seq.Selector.FinalText() is { Length: > 0 } rest) seq.Handle.Channel.Writer.TryWrite(new GeneratedToken(GenerationSession.NoToken, rest));
        seq.Handle.Channel.Writer.TryComplete();
        long end = Stopwatch.GetTimestamp();
        double prefill = seq.FirstToken == 0 ? Stopwatch.GetElapsedTime(seq.Submitted, end).TotalSeconds : Stopwatch.GetElapsedTime(seq.Submitted, seq.FirstToken).TotalSeconds;
        double decode = seq.FirstToken == 0 ? 0 : Stopwatch.GetElapsedTime(seq.FirstToken, end).TotalSeconds;
        seq.Handle.Done.TrySetResult(new GenerationUsage(seq.Prompt.Length, seq.Selector.Generated, prefill, decode, reason));
        if (seq.State is { } state) _pool.Push(state);
        seq.State = null;
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _wake.Release();
        _engine.Join();
        lock (_waiting)
            while (_waiting.Count > 0) Finish(_waiting.Dequeue(), StopReason.Cancelled);
        foreach (var seq in _running) Finish(seq, StopReason.Cancelled);
        _running.Clear();
        _wake.Dispose();
    }
}
