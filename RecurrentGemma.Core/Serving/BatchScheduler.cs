using System.Diagnostics;
using System.Runtime.InteropServices;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.State;
using RecurrentGemma.Core.Tokenizer;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Serving;

/// <summary>
/// Continuous batching. Requests queue up; each engine step builds one ragged batch from one decode token of every
/// running sequence plus prefill chunks of new ones (bounded by <see cref="SchedulerOptions.MaxTokensPerStep"/>), runs
/// the matmuls once over all rows and conv/scan/attention on each sequence's own state, then samples every sequence
/// whose logits are ready. A sequence that finishes or is cancelled leaves at once and its state goes back to a pool.
/// Admission is by memory: at most budget / state-bytes sequences run; the rest wait. Because a row's logits never
/// depend on the batch around it, every request gets exactly the tokens it would get alone (same seed, same ids).
/// <para>
/// No caller can stall or break the engine: no caller code runs on the engine thread (channel readers and completions
/// continue asynchronously, progress callbacks run on the thread pool); an error in one request's sampling fails that
/// request alone; an error the engine cannot attribute (the forward pass itself) fails the requests in flight and the
/// engine goes on with the next ones. Every request ends (result, Cancelled, or error) whatever the interleaving with
/// <see cref="Dispose"/>.
/// </para>
/// </summary>
public sealed class BatchScheduler : IDisposable
{
    readonly RecurrentGemmaModel _model;
    readonly GemmaTokenizer? _tokenizer;
    readonly SchedulerOptions _options;
    readonly ForwardPass _pass;
    readonly object _gate = new();          // guards _waiting and _stopping
    readonly Queue<Sequence> _waiting = new();
    readonly List<Sequence> _running = [];
    readonly Stack<SequenceState> _pool = new();
    readonly List<BatchEntry> _entries = [];
    readonly List<(Sequence Seq, int Fed)> _fed = [];
    readonly float[] _logits, _scratch;
    readonly List<Sequence> _picking = [];
    readonly PickJob _pickJob = new();
    readonly SemaphoreSlim _wake = new(0);
    readonly Thread _engine;
    readonly SchedulerCounters _counters = new();
    bool _stopping;
    int _statesCreated;
    long _stepNumber;
    readonly List<Sequence> _candidates = [];

    /// <summary>Who is served first when rows are short: the sequence fed longest ago, then the one submitted first.</summary>
    static readonly Comparison<Sequence> LongestWaitingFirst = static (a, b) =>
        a.LastFed != b.LastFed ? a.LastFed.CompareTo(b.LastFed) : a.Submitted.CompareTo(b.Submitted);

    /// <summary>
    /// Rows decodes may take in a step while prompts wait: the step less one prefill chunk, but never less than half the
    /// step (a chunk larger than half would otherwise shut decodes out); 0 only for one-row steps, which then alternate.
    /// </summary>
    internal int DecodeRowsWithPrefill => _options.MaxTokensPerStep - Math.Max(1, Math.Min(_options.PrefillChunk, _options.MaxTokensPerStep / 2));

    public int MaxConcurrentSequences { get; }
    public long StateBytesPerSequence { get; }
    /// <summary>Bytes the engine holds whatever runs: one step's logits rows, a sampling row and the pass's scratch activations.</summary>
    public long FixedBytes => 4L * (_logits.Length + _scratch.Length) + _pass.ScratchBytes;
    /// <summary>The most sequences one engine step has fed together so far (a measure of how much batching happened).</summary>
    public int PeakBatchSequences { get; private set; }

    /// <summary>Queue depth, running sequences and the batch sizes of the steps so far (for a server's metrics).</summary>
    public SchedulerStatistics Statistics()
    {
        int queued;
        lock (_gate) queued = _waiting.Count;
        return _counters.Read(queued);
    }

    /// <summary>Test seams: called before each forward pass, and before each sequence samples. Null in production.</summary>
    internal Action? BeforePass { get; set; }
    internal Action<RequestHandle>? BeforeSample { get; set; }
    /// <summary>Test seam: each step's feeding (which request, how many prompt tokens; 0 is a decode row), before its pass.</summary>
    internal Action<List<(RequestHandle Handle, int Prompt)>>? StepFed { get; set; }
    /// <summary>States made so far, and how many are back in the pool (equal when idle: none leaked).</summary>
    internal int StatesCreated => Volatile.Read(ref _statesCreated);
    internal int PooledStates { get { lock (_pool) return _pool.Count; } }
    internal bool EngineRunning => _engine.IsAlive;

    /// <param name="tokenizer">Decodes text and stop strings; its vocabulary must be the model's.</param>
    public BatchScheduler(RecurrentGemmaModel model, GemmaTokenizer? tokenizer = null, SchedulerOptions? options = null)
    {
        tokenizer?.RequireVocabularySize(model.Config.VocabSize);
        _model = model;
        _tokenizer = tokenizer;
        _options = (options ?? new SchedulerOptions()).Validate();
        StateBytesPerSequence = SequenceState.BytesFor(model.Config);
        MaxConcurrentSequences = (int)Math.Clamp(_options.MemoryBudgetBytes / StateBytesPerSequence, 1, _options.MaxRunningSequences);
        _pass = model.CreateForwardPass(_options.MaxTokensPerStep);
        long logitFloats = (long)Math.Min(MaxConcurrentSequences, _options.MaxTokensPerStep) * model.Config.VocabSize;
        if (logitFloats > Array.MaxLength)
            throw new RecurrentGemmaException($"{nameof(SchedulerOptions.MaxTokensPerStep)} = {_options.MaxTokensPerStep} rows of {model.Config.VocabSize} logits do not fit one buffer; lower it");
        _logits = new float[logitFloats];
        _scratch = new float[model.Config.VocabSize];
        _engine = new Thread(EngineLoop) { IsBackground = true, Name = "rgemma-scheduler" };
        _engine.Start();
    }

    /// <summary>One step's picks as a parallel job: task i picks for sequence i from its own row of the step's logits.</summary>
    sealed class PickJob : IParallelWork
    {
        BatchScheduler? _owner;
        List<Sequence>? _sequences;

        public void Run(BatchScheduler owner, List<Sequence> sequences, WorkerPool pool)
        {
            (_owner, _sequences) = (owner, sequences);
            try { pool.Run(this, sequences.Count); }
            finally { (_owner, _sequences) = (null, null); }
        }

        public void Execute(int index)
        {
            var seq = _sequences![index];
            int vocab = _owner!._model.Config.VocabSize;
            _owner.Pick(seq, _owner._logits.AsSpan(seq.LogitsRow * vocab, vocab));
        }
    }

    sealed class Sequence(int[] prompt, TokenSelector selector, RequestHandle handle, SessionLink? session, ProgressReporter? progress)
    {
        public readonly int[] Prompt = prompt;
        public readonly TokenSelector Selector = selector;
        public readonly RequestHandle Handle = handle;
        public readonly SessionLink? Session = session;
        public readonly ProgressReporter? Progress = progress;
        public readonly List<int> History = session?.History ?? [];
        public readonly int[] Last = new int[1];
        public SequenceState? State;
        public int Fed;            // prompt tokens fed so far
        public bool HasToken;      // Last holds a sampled token not yet fed
        public StopReason? Ending; // stopped after emitting a token: feed it (for the session), then finish with this
        public bool Active;        // admitted and not finished
        public long Submitted = Stopwatch.GetTimestamp(), FirstToken;
        public long LastFed;       // the engine step that last gave this sequence rows (0: none yet)
        public bool Prefilling => Fed < Prompt.Length;
        // This step's pick (Pick, on any thread), applied by Apply on the engine thread.
        public int LogitsRow;
        public bool Picked;
        public GeneratedToken PickedToken;
        public Exception? PickError;
    }

    /// <summary>
    /// Queues a request. Bad input (empty prompt, ids outside the vocabulary, invalid sampling parameters) throws here and
    /// never reaches the engine, so it cannot disturb other requests.
    /// </summary>
    public RequestHandle Submit(int[] promptIds, SamplingParameters parameters, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(promptIds);
        if (promptIds.Length == 0) throw new RecurrentGemmaException("the prompt is empty");
        return Enqueue(promptIds, parameters, cancellation, session: null);
    }

    /// <summary>Continues a session: feeds its new prompt ids (maybe none, then it samples from the session's last logits) and generates.</summary>
    internal RequestHandle Submit(SessionLink session, int[] promptIds, SamplingParameters parameters, CancellationToken cancellation)
    {
        if (promptIds.Length == 0 && !session.HasLogits) throw new RecurrentGemmaException("the prompt is empty and there is nothing to continue from");
        if (session.Broken) throw new RecurrentGemmaException("this session's state was lost in an engine error; Reset() it to start over");
        if (session.State.Config != _model.Config) throw new ArgumentException("the session belongs to another model", nameof(session));
        if (Interlocked.CompareExchange(ref session.InFlight, 1, 0) != 0)
            throw new InvalidOperationException("this session already has a request running; a session runs one request at a time (Fork() it, or use another session)");
        try
        {
            return Enqueue(promptIds, parameters, cancellation, session);
        }
        catch
        {
            Volatile.Write(ref session.InFlight, 0);
            throw;
        }
    }

    RequestHandle Enqueue(int[] promptIds, SamplingParameters parameters, CancellationToken cancellation, SessionLink? session)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        int vocab = _model.Config.VocabSize;
        for (int i = 0; i < promptIds.Length; i++)
            if ((uint)promptIds[i] >= (uint)vocab) throw new RecurrentGemmaException($"token id {promptIds[i]} at index {i} is outside the vocabulary [0, {vocab})");
        if ((long)promptIds.Length + (session?.State.Position ?? 0) > SchedulerOptions.MaxPositions)
            throw new RecurrentGemmaException($"the prompt would take the sequence past position {SchedulerOptions.MaxPositions}");
        var selector = new TokenSelector(parameters, vocab, _model.Config.EosTokenId, _tokenizer);
        var handle = new RequestHandle(cancellation);
        var progress = session?.PrefillProgress is { } callback ? new ProgressReporter(callback, handle) : null;
        var seq = new Sequence((int[])promptIds.Clone(), selector, handle, session, progress);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopping, this);
            _waiting.Enqueue(seq);
            _wake.Release();
        }
        return handle;
    }

    void EngineLoop()
    {
        while (true)
        {
            lock (_gate) if (_stopping) break;
            try
            {
                Admit();
                if (_running.Count == 0)
                {
                    _wake.Wait(100);
                    continue;
                }
                Step();
            }
            catch (Exception e)
            {
                // Not attributable to one request (the forward pass itself failed): every running request fails with it,
                // and the engine starts over clean with whatever is queued next.
                var fault = new EngineFaultException($"the engine failed while running this request: {e.Message}", e);
                foreach (var seq in _running) if (seq.Active) Fail(seq, fault);
                _running.Clear();
                _counters.Running(0);
            }
        }
        // Stopping: nothing can be queued any more (Enqueue checks _stopping under the same lock), so this drains all.
        foreach (var seq in _running) if (seq.Active) Finish(seq, StopReason.Cancelled);
        _running.Clear();
        _counters.Running(0);
        lock (_gate)
            while (_waiting.Count > 0) Finish(_waiting.Dequeue(), StopReason.Cancelled);
    }

    void Admit()
    {
        lock (_gate)
        {
            while (_waiting.Count > 0 && _running.Count < MaxConcurrentSequences)
            {
                var seq = _waiting.Dequeue();
                seq.Active = true;
                if (EndIfCancelled(seq)) continue;
                seq.State = seq.Session?.State ?? TakePooledState();
                _running.Add(seq);
                // A session continuing from its last logits samples before any forward step.
                if (seq.Prompt.Length == 0)
                {
                    seq.Session!.Logits.CopyTo(_scratch, 0);   // sampling modifies the logits; the session's copy must stay
                    SampleOrFail(seq, _scratch);
                }
            }
        }
        _running.RemoveAll(s => !s.Active);
        _counters.Running(_running.Count);
    }

    SequenceState TakePooledState()
    {
        SequenceState? state;
        lock (_pool) _pool.TryPop(out state);
        if (state is null)
        {
            state = _model.CreateState();
            Interlocked.Increment(ref _statesCreated);
        }
        else state.Reset();
        return state;
    }

    /// <summary>Ends a cancelled sequence; a session's sequence holding an unfed token feeds it first (its state must include every token it emitted).</summary>
    bool EndIfCancelled(Sequence seq)
    {
        if (!seq.Handle.CancellationRequested || seq.Ending is not null) return false;
        if (seq.Session is not null && seq.HasToken) { seq.Ending = StopReason.Cancelled; return false; }
        Finish(seq, StopReason.Cancelled);
        return true;
    }

    /// <summary>
    /// One engine step: fed-back tokens first (one row each), then prefill chunks, each handed out longest-waiting first
    /// (the sequence whose rows came the most steps ago), so every running sequence is served however many run:
    /// <list type="bullet">
    /// <item>While any prompt waits to be prefilled, decodes take at most <see cref="DecodeRowsWithPrefill"/> rows and
    /// prompts the rest, so a flood of decodes never starves a new request's first token (nor the reverse: a prompt takes
    /// at most <see cref="SchedulerOptions.PrefillChunk"/> rows a step and decodes keep at least half the step).</item>
    /// <item>When more decodes run than a step has rows for, those left out go first next step: each decodes at least
    /// once every ceil(decodes / rows) steps.</item>
    /// <item>Prompts take chunks in turn likewise, so a short prompt behind a long one is not held until the long one is
    /// done.</item>
    /// </list>
    /// Sharing rows by waiting time rather than capping running sequences at the rows of a step keeps
    /// <c>--max-sequences</c> meaning what it says (a slot, not a guess at throughput); which step a row is fed in never
    /// changes its logits. Allocation-free: the ordering sorts a reused list, and only when rows are short.
    /// </summary>
    void Step()
    {
        foreach (var seq in _running) EndIfCancelled(seq);   // frees its slot now, even mid-prompt
        _running.RemoveAll(s => !s.Active);
        if (_running.Count == 0) return;
        _entries.Clear();
        _fed.Clear();
        int budget = _options.MaxTokensPerStep;
        bool prompts = false;
        foreach (var seq in _running) prompts |= seq.Prefilling && seq.Ending is null;
        int decodeRows = prompts ? DecodeRowsWithPrefill : budget;
        if (decodeRows == 0 && (_stepNumber & 1) == 0) decodeRows = 1;   // one row a step: alternate decode and prefill
        long step = ++_stepNumber;
        // Decodes, the longest-waiting first when there are more than rows.
        _candidates.Clear();
        foreach (var seq in _running) if (seq.HasToken) _candidates.Add(seq);
        if (_candidates.Count > decodeRows) _candidates.Sort(LongestWaitingFirst);
        for (int i = 0; i < _candidates.Count && i < decodeRows; i++)
        {
            var seq = _candidates[i];
            _entries.Add(new BatchEntry(seq.State!, seq.Last));
            _fed.Add((seq, 0));
            seq.LastFed = step;
            budget--;
        }
        // Prompt chunks in the rows left, likewise.
        _candidates.Clear();
        foreach (var seq in _running) if (seq.Prefilling && seq.Ending is null) _candidates.Add(seq);
        if (_candidates.Count > 1) _candidates.Sort(LongestWaitingFirst);
        foreach (var seq in _candidates)
        {
            if (budget == 0) break;
            int n = Math.Min(Math.Min(_options.PrefillChunk, seq.Prompt.Length - seq.Fed), budget);
            _entries.Add(new BatchEntry(seq.State!, seq.Prompt.AsMemory(seq.Fed, n)));
            _fed.Add((seq, n));
            seq.LastFed = step;
            budget -= n;
        }
        _candidates.Clear();
        StepFed?.Invoke(_fed.ConvertAll(f => (f.Seq.Handle, f.Fed)));
        if (_entries.Count == 0) return;
        PeakBatchSequences = Math.Max(PeakBatchSequences, _entries.Count);
        _counters.Step(_entries.Count, _options.MaxTokensPerStep - budget);
        int vocab = _model.Config.VocabSize;
        try
        {
            BeforePass?.Invoke();
            _pass.Run(CollectionsMarshal.AsSpan(_entries), _logits);
        }
        catch
        {
            // The states in this batch may be half-advanced: sessions must start over; pooled states are reset on reuse.
            foreach (var (seq, _) in _fed) if (seq.Session is { } s) s.Broken = true;
            throw;
        }
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
            }
            if (fed > 0) seq.Progress?.Report((double)seq.Fed / seq.Prompt.Length);
            if (seq.Ending is { } ending) { Finish(seq, ending); continue; }
            if (seq.Prefilling) continue;   // mid-prompt: no token yet
            seq.LogitsRow = i;
            _picking.Add(seq);
        }
        // The picks run across the pool (each sequence has its own selector, history and logits row; a top-p pick over
        // 256000 logits takes ~0.7 ms, so 64 of them in series would be ~8% of a 2-core batch-64 step and more on many
        // cores); what they change in the scheduler is applied here, in batch order.
        _pickJob.Run(this, _picking, _model.Pool);
        foreach (var seq in _picking) Apply(seq);
        _picking.Clear();
        _running.RemoveAll(s => !s.Active);
        _counters.Running(_running.Count);
    }

    /// <summary>Picks the sequence's next token and applies it; an error here is this request's alone.</summary>
    void SampleOrFail(Sequence seq, Span<float> logits)
    {
        Pick(seq, logits);
        Apply(seq);
    }

    /// <summary>
    /// The sequence's next token from <paramref name="logits"/> (used up: penalties and cuts work in place), kept on the
    /// sequence. Touches nothing but the sequence's own selector, so picks of different sequences may run at once.
    /// </summary>
    void Pick(Sequence seq, Span<float> logits)
    {
        seq.PickError = null;
        try
        {
            BeforeSample?.Invoke(seq.Handle);
            seq.Picked = seq.Selector.Next(logits, CollectionsMarshal.AsSpan(seq.History), seq.Handle.CancellationRequested, out seq.PickedToken);
        }
        catch (Exception e)
        {
            seq.PickError = e;
        }
    }

    /// <summary>Applies the pick: the token goes out and is fed next step, or the request ends.</summary>
    void Apply(Sequence seq)
    {
        if (seq.PickError is { } e)
        {
            Fail(seq, new EngineFaultException($"sampling failed for this request: {e.Message}", e));
            return;
        }
        if (!seq.Picked)
        {
            Finish(seq, seq.Selector.Stopped!.Value);
            return;
        }
        var token = seq.PickedToken;
        if (seq.FirstToken == 0) seq.FirstToken = Stopwatch.GetTimestamp();
        seq.History.Add(token.Id);
        seq.Last[0] = token.Id;
        seq.HasToken = true;
        seq.Handle.Channel.Writer.TryWrite(token);
        if (seq.Selector.Stopped is { } reason)
        {
            if (seq.Session is null) Finish(seq, reason);
            else seq.Ending = reason;   // feed the emitted token so the session's state and logits include it
        }
    }

    void Finish(Sequence seq, StopReason reason)
    {
        // However the request ended (a cancellation the sampler saw first, a session draining its last token), a caller
        // callback that threw is its outcome.
        if (seq.Handle.CallbackFault is { } fault) { Fail(seq, fault); return; }
        string? rest = null;
        try { rest = seq.Selector.FinalText(); }
        catch (Exception e) { Fail(seq, new EngineFaultException($"detokenizing failed for this request: {e.Message}", e)); return; }
        if (rest is { Length: > 0 }) seq.Handle.Channel.Writer.TryWrite(new GeneratedToken(GeneratedToken.NoId, rest));
        long end = Stopwatch.GetTimestamp();
        double prefill = Stopwatch.GetElapsedTime(seq.Submitted, seq.FirstToken == 0 ? end : seq.FirstToken).TotalSeconds;
        double decode = seq.FirstToken == 0 ? 0 : Stopwatch.GetElapsedTime(seq.FirstToken, end).TotalSeconds;
        Release(seq);
        seq.Handle.Complete(new GenerationUsage(seq.Prompt.Length, seq.Selector.Generated, prefill, decode, reason));
    }

    void Fail(Sequence seq, Exception error)
    {
        Release(seq);
        seq.Handle.Fail(error);
    }

    /// <summary>The sequence leaves: a pooled state goes back, a session may run again.</summary>
    void Release(Sequence seq)
    {
        if (seq.Session is null && seq.State is { } state) lock (_pool) _pool.Push(state);
        seq.State = null;
        seq.Active = false;
        if (seq.Session is { } session) Volatile.Write(ref session.InFlight, 0);
    }

    /// <summary>Stops the engine: running and queued requests end as Cancelled; later submissions throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_stopping) return;
            _stopping = true;
            _wake.Release();
        }
        if (Thread.CurrentThread != _engine) _engine.Join();
    }
}
