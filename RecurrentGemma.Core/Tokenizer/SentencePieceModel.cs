using Google.Protobuf;

namespace RecurrentGemma.Core.Tokenizer;

/// <summary>SentencePiece piece types (sentencepiece_model.proto).</summary>
public enum PieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>
/// The parts of a SentencePiece <c>tokenizer.model</c> (a ModelProto) that encoding needs: every piece with its score and
/// type, and the normalizer flags. Read with Google.Protobuf's wire reader, field by field; unknown fields are skipped.
/// </summary>
public sealed class SentencePieceModel
{
    public required string[] Pieces { get; init; }
    public required float[] Scores { get; init; }
    public required PieceType[] Types { get; init; }
    /// <summary>trainer_spec.model_type: 1 unigram, 2 BPE.</summary>
    public int ModelType { get; init; } = 1;
    public bool ByteFallback { get; init; }
    public bool AddDummyPrefix { get; init; } = true;
    public bool RemoveExtraWhitespaces { get; init; } = true;
    public bool EscapeWhitespaces { get; init; } = true;

    /// <summary>The largest vocabulary read (the model config's own limit).</summary>
    public const int MaxPieces = Config.ModelConfig.Limits.VocabSize;

    /// <summary>
    /// Every piece is checked as it is read, so nothing downstream (the encoder, the library decoder, the byte table)
    /// can meet a piece it would throw on: a known type, non-empty text, a finite score, and byte pieces spelled &lt;0xNN&gt;.
    /// </summary>
    static void CheckPiece(string path, int index, string text, float score, PieceType type)
    {
        if (!Enum.IsDefined(type)) throw new TokenizerException($"{path}: piece {index} has unknown type {(int)type}");
        if (text.Length == 0) throw new TokenizerException($"{path}: piece {index} is empty");
        if (!float.IsFinite(score)) throw new TokenizerException($"{path}: piece {index} ('{text}') has score {score}; expected a finite number");
        if (type == PieceType.Byte && !IsBytePiece(text))
            throw new TokenizerException($"{path}: piece {index} is a byte piece spelled '{text}'; expected <0x00> .. <0xFF>");
    }

    /// <summary>A byte piece's text: exactly &lt;0xNN&gt; with two hex digits.</summary>
    public static bool IsBytePiece(string text) =>
        text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>' && Uri.IsHexDigit(text[3]) && Uri.IsHexDigit(text[4]);

    public static SentencePieceModel Read(byte[] bytes, string path)
    {
        var pieces = new List<string>();
        var scores = new List<float>();
        var types = new List<PieceType>();
        int modelType = 1;
        bool byteFallback = false, dummyPrefix = true, removeExtra = true, escape = true;
        try
        {
            var input = new CodedInputStream(bytes);
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                switch (tag >> 3)
                {
                    case 1:   // repeated SentencePiece pieces = 1 { string piece = 1; float score = 2; Type type = 3; }
                        var piece = new CodedInputStream(input.ReadBytes().ToByteArray());
                        string text = "";
                        float score = 0;
                        var type = PieceType.Normal;
                        uint t;
                        while ((t = piece.ReadTag()) != 0)
                        {
                            switch (t >> 3)
                            {
                                case 1: text = piece.ReadString(); break;
                                case 2: score = piece.ReadFloat(); break;
                                case 3: type = (PieceType)piece.ReadEnum(); break;
                                default: piece.SkipLastField(); break;
                            }
                        }
                        CheckPiece(path, pieces.Count, text, score, type);
                        pieces.Add(text);
                        scores.Add(score);
                        types.Add(type);
                        break;
                    case 2:   // TrainerSpec trainer_spec = 2 { ModelType model_type = 3; bool byte_fallback = 35; }
                        var trainer = new CodedInputStream(input.ReadBytes().ToByteArray());
                        while ((t = trainer.ReadTag()) != 0)
                        {
                            switch (t >> 3)
                            {
                                case 3: modelType = trainer.ReadEnum(); break;
                                case 35: byteFallback = trainer.ReadBool(); break;
                                default: trainer.SkipLastField(); break;
                            }
                        }
                        break;
                    case 3:   // NormalizerSpec normalizer_spec = 3 { add_dummy_prefix = 3; remove_extra_whitespaces = 4; escape_whitespaces = 5; }
                        var normalizer = new CodedInputStream(input.ReadBytes().ToByteArray());
                        while ((t = normalizer.ReadTag()) != 0)
                        {
                            switch (t >> 3)
                            {
                                case 3: dummyPrefix = normalizer.ReadBool(); break;
                                case 4: removeExtra = normalizer.ReadBool(); break;
                                case 5: escape = normalizer.ReadBool(); break;
                                default: normalizer.SkipLastField(); break;
                            }
                        }
                        break;
                    default:
                        input.SkipLastField();
                        break;
                }
            }
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or ArgumentException or OverflowException)   // wire-level damage, e.g. invalid UTF-8 in a string field
        {
            throw new TokenizerException($"{path}: not a SentencePiece model ({e.Message})", e);
        }
        if (pieces.Count == 0) throw new TokenizerException($"{path}: not a SentencePiece model (no pieces)");
        if (pieces.Count > MaxPieces) throw new TokenizerException($"{path}: {pieces.Count} pieces; at most {MaxPieces}");
        return new SentencePieceModel
        {
            Pieces = [.. pieces], Scores = [.. scores], Types = [.. types], ModelType = modelType,
            ByteFallback = byteFallback, AddDummyPrefix = dummyPrefix, RemoveExtraWhitespaces = removeExtra, EscapeWhitespaces = escape,
        };
    }
}
