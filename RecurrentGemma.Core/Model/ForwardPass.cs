using System.Numerics.Tensors;
using RecurrentGemma.Core.Config;
using RecurrentGemma.Core.State;
using RecurrentGemma.Kernels;
using RecurrentGemma.Kernels.MatMul;
using RecurrentGemma.Kernels.Operators;
using RecurrentGemma.Kernels.Parallel;

namespace RecurrentGemma.Core.Model;

/// <summary>
/// The forward pass over a ragged batch: any number of (state, tokens) entries, prefill and decode mixed. The matmuls
/// run once over all rows of all entries; conv, scan and attention run per entry on its own state. Long inputs are
/// cut into passes of at most <see cref="MaxRowsPerPass"/> rows (state carries across), so scratch memory is bounded.
/// Owns its scratch buffers: use one instance per thread; the model weights are shared read-only.
/// </summary>
public sealed class ForwardPass
{
    readonly ModelConfig _config;
    readonly ModelWeights _weights;
    readonly ForwardBuffers _buf;
    readonly WorkerPool? _pool;
    PassPiece[] _pieces = new PassPiece[16];
    int[] _done = new int[16];
    int[] _logitBase = new int[16];

    public int MaxRowsPerPass => _buf.MaxRows;
    /// <summary>Bytes of scratch activations this pass holds (fixed at creation, from the config and the rows per pass).</summary>
    public long ScratchBytes => _buf.Bytes;

    /// <summary>Attach a profile to have every following pass add its time per phase to it; null (the default) to stop.</summary>
    public StepProfile? Profile
    {
        get => _buf.Profile;
        set => _buf.Profile = value;
    }
    /// <summary>Upper bound of rows per pass (the scheduler's largest step).</summary>
    public const int MaxRowsLimit = 4096;

    public ForwardPass(ModelConfig config, ModelWeights weights, WorkerPool? pool = null, int maxRowsPerPass = 256)
    {
        _pool = pool;
        if (maxRowsPerPass is < 1 or > MaxRowsLimit)
            throw new RecurrentGemmaException($"{nameof(maxRowsPerPass)} = {maxRowsPerPass} must be in [1, {MaxRowsLimit}]");
        _config = config;
        _weights = weights;
        _buf = new ForwardBuffers(config, maxRowsPerPass);
    }

    /// <summary>The input embedding multiplier: sqrt(H) rounded to bfloat16 first, as the reference does (50.5 for H = 2560).</summary>
    public static float EmbeddingScale(ModelConfig c) => c.EmbeddingsScaleBySqrtDim ? Bf16.Round(MathF.Sqrt(c.HiddenSize)) : 1f;

    /// <summary>Rows of logits <see cref="Run"/> writes for this batch (each entry's last token, or all its tokens).</summary>
    public static long LogitRowCount(ReadOnlySpan<BatchEntry> batch)
    {
        long n = 0;
        foreach (var e in batch) n += e.LogitRows;
        return n;
    }

    /// <summary>
    /// Feeds every entry's tokens through the model, advancing each state, and writes logits [LogitRowCount, V]
    /// in entry order. Throws <see cref="RecurrentGemmaException"/> for bad token ids before touching any state.
    /// </summary>
    public void Run(ReadOnlySpan<BatchEntry> batch, Span<float> logits, HiddenStateObserver? observer = null)
    {
        int vocab = _config.VocabSize;
        _weights.Enter();   // the model cannot be freed under a running pass: Dispose waits for it to leave
        try
        {
            ValidateAndMarkInUse(batch, logits);
        }
        catch
        {
            _weights.Leave();
            throw;
        }
        try
        {
            EnsureCapacity(batch.Length);
            int logitRow = 0;
            for (int i = 0; i < batch.Length; i++)
            {
                _done[i] = 0;
                _logitBase[i] = logitRow;
                logitRow += batch[i].LogitRows;
            }
            int next = 0;
            while (next < batch.Length)
            {
                int count = 0, rows = 0, firstLogit = -1, logitRows = 0;
                for (int i = next; i < batch.Length && rows < MaxRowsPerPass; i++)
                {
                    var entry = batch[i];
                    int take = Math.Min(entry.Tokens.Length - _done[i], MaxRowsPerPass - rows);
                    bool finishes = _done[i] + take == entry.Tokens.Length;
                    int pieceLogits = entry.AllLogits ? take : finishes ? 1 : 0;
                    if (pieceLogits > 0 && firstLogit < 0)
                        firstLogit = _logitBase[i] + (entry.AllLogits ? _done[i] : 0);
                    _pieces[count++] = new PassPiece { Entry = i, TokenOffset = _done[i], Rows = take, RowStart = rows, LogitRows = pieceLogits };
                    rows += take;
                    logitRows += pieceLogits;
                }
                RunPass(_pieces.AsSpan(0, count), batch, rows, observer);
                if (logitRows > 0) ComputeLogits(_pieces.AsSpan(0, count), logitRows, logits.Slice(firstLogit * vocab, logitRows * vocab));
                foreach (ref readonly var p in _pieces.AsSpan(0, count))
                {
                    _done[p.Entry] += p.Rows;
                    if (_done[p.Entry] == batch[p.Entry].Tokens.Length) next = p.Entry + 1;
                }
            }
        }
        finally
        {
            foreach (var e in batch) e.State.ClearInUse();
            _weights.Leave();
        }
    }

    /// <summary>Checks every entry before any state changes, marking states in use (which also catches one state twice). On failure nothing stays marked.</summary>
    void ValidateAndMarkInUse(ReadOnlySpan<BatchEntry> batch, Span<float> logits)
    {
        int vocab = _config.VocabSize;
        long need = LogitRowCount(batch) * vocab;
        if (logits.Length < need) throw new ArgumentException($"logits span holds {logits.Length} floats, the batch needs {need}", nameof(logits));
        int marked = 0;
        try
        {
            for (int i = 0; i < batch.Length; i++)
            {
                var e = batch[i];
                if (e.State is null) throw new ArgumentException($"batch entry {i} has no state", nameof(batch));
                if (e.State.Config != _config) throw new ArgumentException($"batch entry {i}: state was made for a different model config", nameof(batch));
                if (e.Tokens.IsEmpty) throw new ArgumentException($"batch entry {i} has no tokens", nameof(batch));
                if ((long)e.State.Position + e.Tokens.Length > int.MaxValue) throw new RecurrentGemmaException($"batch entry {i}: position would pass {int.MaxValue}");
                var tokens = e.Tokens.Span;
                for (int t = 0; t < tokens.Length; t++)
                    if ((uint)tokens[t] >= (uint)vocab)
                        throw new RecurrentGemmaException($"token id {tokens[t]} at index {t} of batch entry {i} is outside the vocabulary [0, {vocab})");
                if (!e.State.TryMarkInUse()) throw new ArgumentException($"batch entry {i}: its state is already in this batch (or in another running pass)", nameof(batch));
                marked++;
            }
        }
        catch
        {
            for (int i = 0; i < marked; i++) batch[i].State.ClearInUse();
            throw;
        }
    }

    void EnsureCapacity(int entries)
    {
        if (_done.Length >= entries) return;
        int n = Math.Max(entries, _done.Length * 2);
        _pieces = new PassPiece[n];
        _done = new int[n];
        _logitBase = new int[n];
    }

    void RunPass(ReadOnlySpan<PassPiece> pieces, ReadOnlySpan<BatchEntry> batch, int rows, HiddenStateObserver? observer)
    {
        int h = _config.HiddenSize;
        var x = _buf.Residual.AsSpan(0, rows * h);
        var u = _buf.Normed.AsSpan(0, rows * h);
        var blockOut = _buf.BlockOut.AsSpan(0, rows * h);

        var profile = _buf.Profile;
        long t = profile.Start();
        // Embedding, scaled by bf16(sqrt(H)).
        float scale = EmbeddingScale(_config);
        foreach (ref readonly var p in pieces)
        {
            var tokens = batch[p.Entry].Tokens.Span.Slice(p.TokenOffset, p.Rows);
            for (int i = 0; i < p.Rows; i++)
            {
                var row = x.Slice((p.RowStart + i) * h, h);
                _weights.Embedding.ReadRow(tokens[i], row);
                TensorPrimitives.Multiply(row, scale, row);
            }
        }
        observer?.Invoke("embeddings_scaled", -1, x, h);

        // Residual layers: x += Temporal(norm(x)); x += Mlp(norm(x)).
        for (int l = 0; l < _weights.Layers.Length; l++)
        {
            var layer = _weights.Layers[l];
            RmsNorm.Apply(x, layer.TemporalNormScale, _config.RmsNormEps, u, rows, _pool);
            t = profile.Lap(StepPhase.Elementwise, t);
            if (layer.Recurrent is { } rec)
                RecurrentBlock.Forward(l, rec, u, pieces, batch, rows, _buf, _pool, blockOut);
            else
                AttentionBlock.Forward(l, layer.Attention!, _config.AttentionWindow, u, pieces, batch, rows, _buf, _pool, blockOut);
            t = profile.Start();
            observer?.Invoke("temporal_out", l, blockOut, h);
            TensorPrimitives.Add(x, blockOut, x);

            RmsNorm.Apply(x, layer.ChannelNormScale, _config.RmsNormEps, u, rows, _pool);
            profile.Lap(StepPhase.Elementwise, t);
            MlpBlock.Forward(layer.Mlp, u, rows, _buf, _pool, blockOut);
            t = profile.Start();
            TensorPrimitives.Add(x, blockOut, x);
            observer?.Invoke("output", l, x, h);
        }

        foreach (ref readonly var p in pieces) batch[p.Entry].State.Position += p.Rows;
        profile.Lap(StepPhase.Elementwise, t);
    }

    /// <summary>Final norm, head matmul and soft-cap for the rows that need logits; they are contiguous in the output (see Run).</summary>
    void ComputeLogits(ReadOnlySpan<PassPiece> pieces, int logitRows, Span<float> destination)
    {
        long t = _buf.Profile.Start();
        int h = _config.HiddenSize;
        var gathered = _buf.Normed.AsSpan(0, logitRows * h);
        int g = 0;
        foreach (ref readonly var p in pieces)
        {
            if (p.LogitRows == 0) continue;
            int firstRow = p.RowStart + p.Rows - p.LogitRows;
            _buf.Residual.AsSpan(firstRow * h, p.LogitRows * h).CopyTo(gathered.Slice(g * h));
            g += p.LogitRows;
        }
        RmsNorm.Apply(gathered, _weights.FinalNormScale, _config.RmsNormEps, gathered, logitRows, _pool);
        _weights.Head.Multiply(gathered, logitRows, default, destination, _pool);
        if (_config.LogitsSoftCap > 0) Elementwise.Map(new SoftCapOperator(_config.LogitsSoftCap), destination.Slice(0, logitRows * _config.VocabSize), destination, _pool);
        _buf.Profile.Lap(StepPhase.LogitsHead, t);
    }
}
