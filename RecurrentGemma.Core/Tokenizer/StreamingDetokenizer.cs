using System.Text;

namespace RecurrentGemma.Core.Tokenizer;

/// <summary>
/// Turns generated ids into text as they arrive. A character split across byte-fallback tokens (an emoji is four
/// <c>&lt;0xNN&gt;</c> pieces) is held back until its last byte arrives, so a stream never shows half a character;
/// <see cref="Flush"/> ends the stream (an incomplete tail becomes U+FFFD). One instance per stream; not thread-safe.
/// </summary>
public sealed class StreamingDetokenizer
{
    readonly GemmaTokenizer _tokenizer;
    readonly Decoder _decoder = new UTF8Encoding(false, throwOnInvalidBytes: false).GetDecoder();
    char[] _chars = new char[64];

    internal StreamingDetokenizer(GemmaTokenizer tokenizer) => _tokenizer = tokenizer;

    /// <summary>The text this token completes (possibly empty while a character is incomplete).</summary>
    public string Append(int id)
    {
        _tokenizer.CheckIds([id]);
        return Decode(_tokenizer.PieceBytes(id), flush: false);
    }

    public string Flush() => Decode([], flush: true);

    string Decode(ReadOnlySpan<byte> bytes, bool flush)
    {
        int needed = _decoder.GetCharCount(bytes, flush);
        if (needed > _chars.Length) _chars = new char[Math.Max(needed, 2 * _chars.Length)];
        int n = _decoder.GetChars(bytes, _chars, flush);
        return n == 0 ? "" : new string(_chars, 0, n);
    }
}
