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
/// <para>
/// Requests from a <see cref="GenerationSession"/> bring their own state, history and last logits, which the engine
/// continues and leaves consistent (every emitted token fed, the logits after it kept), so sessions of many callers
/// batch together.
/// </para>
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
    readonly float[] _logits, _scratch;
    readonly SemaphoreSlim _wake = new(0);
    readonly Thread _engine;
    volatile bool _stopping;
    Exception? _fault;

    public int MaxConcurrentSequences { get; }
    public long StateBytesPerSequence { get; }
    /// <summary>The most sequences one engine step has fed together so far (a measure of how much batching happened).</summary>
    public int PeakBatchSequences { get; private set; }

    public BatchScheduler(RecurrentGemmaModel model, GemmaTokenizer? tokenizer = null, SchedulerOptions? options = null)
    {
        _model = model;
        _tokenizer = tokenizer;
        _options = (options ?? new SchedulerOptions()).Validate();
        StateBytesPerSequence = SequenceState.BytesFor(model.Config);
        MaxConcurrentSequences = (int)Math.Clamp(_options.MemoryBudgetBytes / StateBytesPerSequence, 1, 1 << 16);
        _pass = model.CreateForwardPass(_options.MaxTokensPerStep);
        _logits = new float[Math.Min(MaxConcurrentSequences, _options.MaxTokensPerStep) * model.Config.VocabSize];
        _scratch = new float[model.Config.VocabSize];
        _engine = new Thread(EngineLoop) { IsBackground = true, Name = "rgemma-scheduler" };
        _engine.Start();
    }

    /// <summary>A session's side of a request: its state, history and last-logits buffer, continued in place.</summary>
    internal sealed class SessionLink(SequenceState state, List<int> history, float[] logits)
    {
        public readonly SequenceState State = state;
        public readonly List<int> History = history;
        public readonly float[] Logits = logits;
        public bool HasLogits;
        public Action<double>? PrefillProgress;
    }

    sealed class Sequence(int[] prompt, TokenSelector selector, RequestHandle handle, CancellationToken cancellation, SessionLink? session)
    {
        public readonly int[] Prompt = prompt;
        public readonly TokenSelector Selector = selector;
        public readonly RequestHandle Handle = handle;
        public readonly CancellationToken Cancellation = cancellation;
        public readonly SessionLink? Session = session;
        public readonly List<int> History = session?.History ?? [];
        public readonly int[] Last = new int[1];
        public SequenceState? State;
        public int Fed;            // prompt tokens fed so far
        public bool HasToken;      // Last holds a sampled token not yet fed
        public bool Draining;      // stopped after emitting a token: feed it (for the session), then finish
        public bool Active;        // admitted and not finished
        public long Submitted = Stopwatch.GetTimestamp(), FirstToken;
        public bool Prefilling => Fed < Prompt.Length;
    }

    /// <summary>
    /// Queues a request. Bad input (empty prompt, ids outside the vocabulary, invalid sampling parameters) throws here and
    /// never reaches the engine, so it cannot disturb other requests.
    /// </summary>
    public RequestHandle Submit(int[] promptIds, SamplingParameters parameters, CancellationToken cancellation = default)
    {
        if (promptIds.Length == 0) throw new RecurrentGemmaException("the prompt is empty");
        return Enqueue(promptIds, parameters, cancellation, session: null);
    }

    /// <summary>Continues a session: feeds its new prompt ids (maybe none, then it samples from the session's last logits) and generates.</summary>
    internal RequestHandle Submit(SessionLink session, int[] promptIds, SamplingParameters parameters, CancellationToken cancellation)
    {
        if (promptIds.Length == 0 && !session.HasLogits) throw new RecurrentGemmaException("the prompt is empty and there is nothing to continue from");
        return Enqueue(promptIds, parameters, cancellation, session);
    }

    RequestHandle Enqueue(int[] promptIds, SamplingParameters parameters, CancellationToken cancellation, SessionLink? session)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        if (_fault is { } fault) throw new InvalidOperationException("the scheduler stopped after an internal error", fault);
        int vocab = _model.Config.VocabSize;
        for (int i = 0; i < promptIds.Length; i++)
            if ((uint)promptIds[i] >= (uint)vocab) throw new RecurrentGemmaException($"token id {promptIds[i]} at index {i} is outside the vocabulary [0, {vocab})");
        var handle = new RequestHandle();
        var selector = new TokenSelector(parameters, vocab, _model.Config.EosTokenId, _tokenizer);
        lock (_waiting) _waiting.Enqueue(new Sequence((int[])promptIds.Clone(), selector, handle, cancellation, session));
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
                seq.Active = true;
                if (seq.Cancellation.IsCancellationRequested) { Finish(seq, StopReason.Cancelled); continue; }
                if (seq.Session is { } session) seq.State = session.State;
                else
                {
                    seq.State = _pool.Count > 0 ? _pool.Pop() : _model.CreateState();
                    seq.State.Reset();
                }
                _running.Add(seq);
                // A session continuing from its last logits samples before any forward step.
                if (seq.Prompt.Length == 0)
                {
                    seq.Session!.Logits.CopyTo(_scratch, 0);   // sampling modifies the logits; the session's copy must stay
                    Sample(seq, _scratch);
                }
            }
            _running.RemoveAll(s => !s.Active);
        }
    }

    /// <summary>One engine step: fed-back tokens first (one row each), then prefill chunks in arrival order while rows remain.</summary>
    void Step()
    {
        foreach (var seq in _running)
            if (seq.Cancellation.IsCancellationRequested && !seq.Draining) Finish(seq, StopReason.Cancelled);   // frees its slot now, even mid-prompt
        _running.RemoveAll(s => !s.Active);
        if (_running.Count == 0) return;
        _entries.Clear();
        _fed.Clear();
        int budget = _options.MaxTokensPerStep;
        foreach (var seq in _running)
            if (seq.HasToken && budget > 0)
            {
                _entries.Add(new BatchEntry(seq.State!, seq.Last));
                _fed.Add((seq, 0));
                budget--;
            }
        foreach (var seq in _running)
        {
            if (!seq.Prefilling || budget == 0) continue;
            int n = Math.Min(Math.Min(_options.PrefillChunk, seq.Prompt.Length - seq.Fed), budget);
            _entries.Add(new BatchEntry(seq.State!, seq.Prompt.AsMemory(seq.Fed, n)));
            _fed.Add((seq, n));
            budget -= n;
        }
        if (_entries.Count == 0) return;
        PeakBatchSequences = Math.Max(PeakBatchSequences, _entries.Count);
        int vocab = _model.Config.VocabSize;
        _pass.Run(CollectionsMarshal.AsSpan(_entries), _logits);
        for (int i = 0; i < _fed.Count; i++)
        {
            var (seq, fed) = _fed[i];
            var row = _logits.AsSpan(i * vocab, vocab);
            if (fed == 0) seq.HasToken = false;
            else
            {
                seq.History.AddRange(seq.Prompt.AsSpan(seq.Fed, fed));
                seq.Fed += fed;
            }
            if (seq.Session is { } session)
            {
                row.CopyTo(session.Logits);   // the session's logits always follow its state
                session.HasLogits = true;
                if (fed > 0) session.PrefillProgress?.Invoke((double)seq.Fed / seq.Prompt.Length);
            }
            if (seq.Draining) { Finish(seq, seq.Selector.Stopped!.Value); continue; }
            if (seq.Prefilling) continue;   // mid-prompt: no token yet
            Sample(seq, row);
        }
        _running.RemoveAll(s => !s.Active);
    }

    /// <summary>Picks the sequence's next token; <paramref name="logits"/> is used up (penalties and cuts work in place).</summary>
    void Sample(Sequence seq, Span<float> logits)
    {
        if (!seq.Selector.Next(logits, CollectionsMarshal.AsSpan(seq.History), seq.Cancellation.IsCancellationRequested, out var token))
        {
            Finish(seq, seq.Selector.Stopped!.Value);
            return;
        }
        if (seq.FirstToken == 0) seq.FirstToken = Stopwatch.GetTimestamp();
        seq.History.Add(token.Id);
        seq.Last[0] = token.Id;
        seq.HasToken = true;
        seq.Handle.Channel.Writer.TryWrite(token);
        if (seq.Selector.Stopped is { } reason)
        {
            if (seq.Session is null) Finish(seq, reason);
            else seq.Draining = true;   // feed the emitted token so the session's state and logits include it
        }
    }

    void Finish(Sequence seq, StopReason reason)
    {
        if (seq.Selector.FinalText() is { Length: > 0 } rest) seq.Handle.Channel.Writer.TryWrite(new GeneratedToken(GenerationSession.NoToken, rest));
        seq.Handle.Channel.Writer.TryComplete();
        long end = Stopwatch.GetTimestamp();
        double prefill = Stopwatch.GetElapsedTime(seq.Submitted, seq.FirstToken == 0 ? end : seq.FirstToken).TotalSeconds;
        double decode = seq.FirstToken == 0 ? 0 : Stopwatch.GetElapsedTime(seq.FirstToken, end).TotalSeconds;
        if (seq.Session is null && seq.State is { } state) _pool.Push(state);
        seq.State = null;
        seq.Active = false;
        seq.Handle.Done.TrySetResult(new GenerationUsage(seq.Prompt.Length, seq.Selector.Generated, prefill, decode, reason));
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
