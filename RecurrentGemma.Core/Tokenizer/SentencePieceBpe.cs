namespace RecurrentGemma.Core.Tokenizer;

/// <summary>
/// SentencePiece's BPE encoding, as its bpe_model.cc does it: normalize (escape spaces as U+2581, optional dummy
/// prefix), split into characters except that user-defined pieces are matched first (longest match) and never merged,
/// then repeatedly merge the adjacent pair whose merged piece scores highest, the left-most pair on ties; pieces not
/// in the vocabulary fall back to UTF-8 byte pieces. The left-most tie rule is why this is ours: Microsoft.ML.Tokenizers
/// 2.0.1 merges right-most first, which splits runs like "====" differently from SentencePiece.
/// </summary>
internal sealed class SentencePieceBpe
{
    const char Space = '\u2581';
    readonly SentencePieceModel _model;
    readonly Dictionary<string, int> _mergeable = new(StringComparer.Ordinal);
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    readonly Dictionary<char, string[]> _userDefinedByFirstChar;
    readonly int[] _byteIds = new int[256];
    readonly int _unknownId;

    public SentencePieceBpe(SentencePieceModel model, string path)
    {
        _model = model;
        _unknownId = -1;
        Array.Fill(_byteIds, -1);
        var userDefined = new Dictionary<char, List<string>>();
        for (int id = 0; id < model.Pieces.Length; id++)
        {
            string piece = model.Pieces[id];
            switch (model.Types[id])
            {
                case PieceType.Normal or PieceType.UserDefined or PieceType.Unused:
                    _mergeable.TryAdd(piece, id);
                    if (model.Types[id] == PieceType.UserDefined && piece.Length > 0)
                    {
                        if (!userDefined.TryGetValue(piece[0], out var list)) userDefined[piece[0]] = list = [];
                        list.Add(piece);
                    }
                    break;
                case PieceType.Unknown:
                    _unknownId = id;
                    break;
                case PieceType.Byte:   // spelled <0xNN>: SentencePieceModel checked it
                    _byteIds[byte.Parse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber)] = id;
                    break;
            }
        }
        if (_unknownId < 0) throw new TokenizerException($"{path}: the model has no <unk> piece");
        if (model.ByteFallback && Array.IndexOf(_byteIds, -1) >= 0)
            throw new TokenizerException($"{path}: byte_fallback is on but byte piece <0x{Array.IndexOf(_byteIds, -1):X2}> is missing");
        _lookup = _mergeable.GetAlternateLookup<ReadOnlySpan<char>>();
        // Longest first, so the first prefix that matches is the longest.
        _userDefinedByFirstChar = new Dictionary<char, string[]>();
        foreach (var (first, list) in userDefined)
        {
            list.Sort((a, b) => b.Length.CompareTo(a.Length));
            _userDefinedByFirstChar[first] = [.. list];
        }
    }

    public string Normalize(string text)
    {
        var s = text;
        if (_model.RemoveExtraWhitespaces)
        {
            var parts = s.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            s = string.Join(' ', parts);
        }
        if (_model.AddDummyPrefix && s.Length > 0) s = " " + s;
        return _model.EscapeWhitespaces ? s.Replace(' ', Space) : s;
    }

    struct Symbol
    {
        public int Start, Length, Prev, Next;
        public bool Frozen;
    }

    public void Encode(string text, List<int> ids)
    {
        string normalized = Normalize(text);
        if (normalized.Length == 0) return;
        var symbols = new List<Symbol>(normalized.Length);
        for (int i = 0; i < normalized.Length;)
        {
            int length = UserDefinedPrefix(normalized, i);
            bool frozen = length > 0;
            if (!frozen) length = char.IsHighSurrogate(normalized[i]) && i + 1 < normalized.Length && char.IsLowSurrogate(normalized[i + 1]) ? 2 : 1;
            symbols.Add(new Symbol { Start = i, Length = length, Prev = symbols.Count - 1, Next = symbols.Count + 1, Frozen = frozen });
            i += length;
        }
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(symbols);
        span[^1].Next = -1;

        // Candidate merges: highest score first, then the left-most.
        var queue = new PriorityQueue<(int Left, int Right, int Length), (float Score, int Start)>(
            Comparer<(float Score, int Start)>.Create((a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Start.CompareTo(b.Start)));
        void TryAdd(Span<Symbol> s, int left, int right)
        {
            if (left < 0 || right < 0 || s[left].Frozen || s[right].Frozen) return;
            int length = s[left].Length + s[right].Length;
            if (_lookup.TryGetValue(normalized.AsSpan(s[left].Start, length), out int id))
                queue.Enqueue((left, right, length), (_model.Scores[id], s[left].Start));
        }
        for (int i = 0; i + 1 < span.Length; i++) TryAdd(span, i, i + 1);
        while (queue.TryDequeue(out var pair, out _))
        {
            ref var left = ref span[pair.Left];
            ref var right = ref span[pair.Right];
            // Stale: one side was merged away or grew since this pair was queued.
            if (left.Length == 0 || right.Length == 0 || left.Next != pair.Right || left.Length + right.Length != pair.Length) continue;
            left.Length += right.Length;
            left.Next = right.Next;
            if (right.Next >= 0) span[right.Next].Prev = pair.Left;
            right.Length = 0;
            TryAdd(span, left.Prev, pair.Left);
            TryAdd(span, pair.Left, left.Next);
        }

        for (int i = 0; i >= 0; i = span[i].Next)
        {
            var piece = normalized.AsSpan(span[i].Start, span[i].Length);
            if (_lookup.TryGetValue(piece, out int id) && _model.Types[id] != PieceType.Unused) ids.Add(id);
            else if (_model.ByteFallback) AddBytes(piece, ids);
            else ids.Add(_unknownId);
        }
    }

    int UserDefinedPrefix(string s, int at)
    {
        if (!_userDefinedByFirstChar.TryGetValue(s[at], out var candidates)) return 0;
        foreach (var piece in candidates)
            if (string.CompareOrdinal(s, at, piece, 0, piece.Length) == 0 && at + piece.Length <= s.Length) return piece.Length;
        return 0;
    }

    void AddBytes(ReadOnlySpan<char> piece, List<int> ids)
    {
        Span<byte> utf8 = stackalloc byte[System.Text.Encoding.UTF8.GetMaxByteCount(piece.Length)];
        int n = System.Text.Encoding.UTF8.GetBytes(piece, utf8);
        foreach (byte b in utf8[..n]) ids.Add(_byteIds[b]);
    }
}
