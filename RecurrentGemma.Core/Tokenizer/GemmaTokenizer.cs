using System.Text;
using Microsoft.ML.Tokenizers;

namespace RecurrentGemma.Core.Tokenizer;

/// <summary>
/// The SentencePiece BPE tokenizer of Gemma-family models (tokenizer.model: 256000 pieces for RecurrentGemma, byte
/// fallback, no dummy prefix), as the reference encodes and decodes:
/// <list type="bullet">
/// <item>Encoding is <see cref="SentencePieceBpe"/> (user-defined pieces such as <c>&lt;start_of_turn&gt;</c> and runs of
/// newlines matched whole, left-most merges on ties).</item>
/// <item>Decoding uses Microsoft.ML.Tokenizers, told about the user-defined pieces so it keeps them, with two fixes:
/// control pieces are left out (the library would print "&lt;bos&gt;"), and every U+2581 becomes a space (the library
/// returns a text of only spaces as U+2581 characters).</item>
/// <item><see cref="CreateStreamingDecoder"/> decodes token by token without ever emitting half a UTF-8 character.</item>
/// </list>
/// Immutable and thread-safe after loading.
/// </summary>
public sealed class GemmaTokenizer
{
    public const string FileName = "tokenizer.model";

    readonly SentencePieceModel _model;
    readonly SentencePieceBpe _bpe;
    readonly SentencePieceTokenizer _library;
    readonly byte[][] _pieceBytes;

    public string Path { get; }
    public int VocabularySize => _model.Pieces.Length;
    public int BosId { get; }
    public int EosId { get; }
    public int PadId { get; }
    /// <summary>Id of &lt;start_of_turn&gt; / &lt;end_of_turn&gt; (the chat template), or -1 when the vocabulary has none.</summary>
    public int StartOfTurnId { get; }
    public int EndOfTurnId { get; }

    GemmaTokenizer(string path, SentencePieceModel model, SentencePieceTokenizer library)
    {
        Path = path;
        _model = model;
        _library = library;
        _bpe = new SentencePieceBpe(model, path);
        BosId = RequireId("<bos>", PieceType.Control);
        EosId = RequireId("<eos>", PieceType.Control);
        PadId = RequireId("<pad>", PieceType.Control);
        StartOfTurnId = Array.IndexOf(model.Pieces, "<start_of_turn>");
        EndOfTurnId = Array.IndexOf(model.Pieces, "<end_of_turn>");
        _pieceBytes = new byte[model.Pieces.Length][];
        for (int id = 0; id < _pieceBytes.Length; id++) _pieceBytes[id] = DecodePiece(id);
    }

    int RequireId(string piece, PieceType type)
    {
        int id = Array.IndexOf(_model.Pieces, piece);
        if (id < 0 || _model.Types[id] != type) throw new TokenizerException($"{Path}: expected a {type} piece {piece}; this is not a Gemma-style tokenizer");
        return id;
    }

    /// <summary>Loads tokenizer.model from a file, or from a model directory that contains one.</summary>
    public static GemmaTokenizer Load(string path)
    {
        string file = Directory.Exists(path) ? System.IO.Path.Combine(path, FileName) : path;
        if (!File.Exists(file))
            throw new TokenizerException(Directory.Exists(path) ? $"{path}: no {FileName} in the model directory" : $"tokenizer file {path} does not exist");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new TokenizerException($"{file}: cannot read ({e.Message})", e); }
        var model = SentencePieceModel.Read(bytes, file);
        if (model.ModelType != 2) throw new TokenizerException($"{file}: a SentencePiece model of type {model.ModelType}; expected BPE (2)");
        var userDefined = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < model.Pieces.Length; id++)
            if (model.Types[id] == PieceType.UserDefined) userDefined.TryAdd(model.Pieces[id], id);
        SentencePieceTokenizer library;
        try { library = SentencePieceTokenizer.Create(new MemoryStream(bytes), false, false, userDefined); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or Google.Protobuf.InvalidProtocolBufferException)
        {
            throw new TokenizerException($"{file}: Microsoft.ML.Tokenizers cannot load it ({e.Message})", e);
        }
        return new GemmaTokenizer(file, model, library);
    }

    /// <summary>Token ids of the text, with &lt;bos&gt; first when asked (Gemma prompts start with it).</summary>
    public int[] Encode(string text, bool addBos = false)
    {
        var ids = new List<int>(text.Length / 3 + 2);
        if (addBos) ids.Add(BosId);
        _bpe.Encode(text, ids);
        return [.. ids];
    }

    /// <summary>The text of the ids (control pieces such as &lt;bos&gt; decode to nothing). Unknown ids are refused.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        CheckIds(ids);
        // SentencePiece decodes control pieces (<bos>, <eos>, <pad>) to nothing; the library prints them once it is told
        // to keep the user-defined pieces, so they are left out here.
        var kept = new List<int>(ids.Length);
        foreach (int id in ids)
            if (_model.Types[id] is not (PieceType.Control or PieceType.Unused)) kept.Add(id);
        return (_library.Decode(kept, considerSpecialTokens: true) ?? "").Replace('\u2581', ' ');
    }

    /// <summary>Refuses a model whose vocabulary is not this tokenizer's (its ids would mean other pieces, or none).</summary>
    public void RequireVocabularySize(int modelVocabularySize)
    {
        if (VocabularySize != modelVocabularySize)
            throw new TokenizerException($"{Path} has {VocabularySize} pieces but the model's vocabulary has {modelVocabularySize}: they do not belong together");
    }

    public void CheckIds(ReadOnlySpan<int> ids)
    {
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)VocabularySize)
                throw new TokenizerException($"token id {ids[i]} at index {i} is outside the vocabulary [0, {VocabularySize})");
    }

    /// <summary>
    /// The most characters (UTF-16) one token of encoded text can cover: the longest normal or user-defined piece (a
    /// byte-fallback token covers one byte, at most one character; an unknown one, one symbol: at most a surrogate pair). So text of n characters is at least
    /// n / MaxPieceChars tokens, a bound a server checks before running BPE on a huge input.
    /// </summary>
    public int MaxPieceChars => _maxPieceChars ??= ComputeMaxPieceChars();
    int? _maxPieceChars;

    int ComputeMaxPieceChars()
    {
        int max = 2;
        for (int id = 0; id < _model.Pieces.Length; id++)
            if (_model.Types[id] is PieceType.Normal or PieceType.UserDefined) max = Math.Max(max, _model.Pieces[id].Length);
        return max;
    }

    public string Piece(int id) => _model.Pieces[id];
    public PieceType Type(int id) => _model.Types[id];

    /// <summary>The UTF-8 bytes a piece stands for: a byte piece its byte, control pieces nothing, others their text with U+2581 as a space.</summary>
    public ReadOnlySpan<byte> PieceBytes(int id) => _pieceBytes[id];

    byte[] DecodePiece(int id) => _model.Types[id] switch
    {
        PieceType.Control or PieceType.Unused => [],
        PieceType.Byte => [Convert.ToByte(_model.Pieces[id][3..5], 16)],
        PieceType.Unknown => Encoding.UTF8.GetBytes(" \u2047 "),
        _ => Encoding.UTF8.GetBytes(_model.Pieces[id].Replace('\u2581', ' ')),
    };

    public StreamingDetokenizer CreateStreamingDecoder() => new(this);
}
