using System.Text;
using System.Text.Json;
using FsCheck.Xunit;
using RecurrentGemma.Core;
using RecurrentGemma.Core.Tokenizer;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>
/// The Gemma tokenizer against SentencePiece's own encodings (tests/data/tokenizer/golden.jsonl, made by
/// python3-sentencepiece on the same tokenizer.model) and the demo model's tokenizer; streaming decode never splits a
/// character.
/// </summary>
public class TokenizerTests
{
    static readonly Lazy<GemmaTokenizer> Gemma = new(() => GemmaTokenizer.Load(TestData.DataFile("tokenizer/tokenizer.model")));
    static readonly Lazy<GemmaTokenizer> Demo = new(() => GemmaTokenizer.Load(TestData.DemoModel));

    public static TheoryData<int> GoldenLines()
    {
        var data = new TheoryData<int>();
        int n = File.ReadLines(TestData.DataFile("tokenizer/golden.jsonl")).Count();
        for (int i = 0; i < n; i++) data.Add(i);
        return data;
    }

    static (string Text, int[] Ids, string Decoded) Golden(int line)
    {
        var d = JsonDocument.Parse(File.ReadLines(TestData.DataFile("tokenizer/golden.jsonl")).ElementAt(line)).RootElement;
        return (d.GetProperty("text").GetString()!, d.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(), d.GetProperty("decoded").GetString()!);
    }

    static string StreamDecode(GemmaTokenizer tokenizer, int[] ids)
    {
        var stream = tokenizer.CreateStreamingDecoder();
        var text = new StringBuilder();
        foreach (int id in ids) text.Append(stream.Append(id));
        return text.Append(stream.Flush()).ToString();
    }

    [Theory]
    [MemberData(nameof(GoldenLines))]
    public void Reproduces_sentencepiece_golden_line(int line)
    {
        var (text, ids, decoded) = Golden(line);
        Assert.Equal(ids, Gemma.Value.Encode(text));
        Assert.Equal(decoded, Gemma.Value.Decode(ids));
        Assert.Equal(decoded, StreamDecode(Gemma.Value, ids));
    }

    [Fact]
    public void Known_ids_and_bos()
    {
        var t = Gemma.Value;
        Assert.Equal(256000, t.VocabularySize);
        Assert.Equal((2, 1, 0, 106, 107), (t.BosId, t.EosId, t.PadId, t.StartOfTurnId, t.EndOfTurnId));
        Assert.Equal([2, 4521, 2134], t.Encode("Hello world", addBos: true));
        Assert.Equal("Hello world", t.Decode([2, 4521, 2134, 1]));   // control pieces decode to nothing
    }

    [Fact]
    public void Demo_tokenizer_reproduces_the_demo_golden_text()
    {
        var golden = JsonDocument.Parse(File.ReadAllText(TestData.DataFile("demo/golden.json"))).RootElement;
        int[] prompt = golden.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        int[] generated = golden.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(prompt, Demo.Value.Encode(golden.GetProperty("prompt_text").GetString()!, addBos: true));
        Assert.Equal(golden.GetProperty("generated_text").GetString(), Demo.Value.Decode(generated));
        Assert.Equal(golden.GetProperty("prompt_plus_generated_text").GetString(), StreamDecode(Demo.Value, [.. prompt, .. generated]));
    }

    [Theory]
    [InlineData("😀")]
    [InlineData("héllo 世界 😀🎉 done")]
    [InlineData("Ωmega ∑ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢")]
    public void Streaming_holds_back_partial_characters(string text)
    {
        var t = Demo.Value;   // 2048 pieces: most of these characters become byte pieces
        int[] ids = t.Encode(text);
        Assert.Contains(ids, id => t.Type(id) == PieceType.Byte);
        var stream = t.CreateStreamingDecoder();
        var pieces = ids.Select(stream.Append).ToList();
        pieces.Add(stream.Flush());
        Assert.Equal(text, string.Concat(pieces));
        foreach (var piece in pieces)
        {
            Assert.DoesNotContain('\uFFFD', piece);
            for (int i = 0; i < piece.Length; i++)
                if (char.IsHighSurrogate(piece[i])) Assert.True(i + 1 < piece.Length && char.IsLowSurrogate(piece[i + 1]), $"split surrogate in '{piece}'");
        }
    }

    [Property(MaxTest = 60)]
    public void Random_text_round_trips_through_encode_and_both_decoders(string? raw, int seed)
    {
        // Mix arbitrary FsCheck strings with emoji and CJK; keep only valid UTF-16 (lone surrogates are not text).
        var rng = new Random(seed);
        string[] extras = ["😀", "世界", "\n\n", "  ", "<start_of_turn>", "é", "====", "\t"];
        var text = new StringBuilder(raw ?? "");
        for (int i = 0; i < 3; i++) text.Insert(rng.Next(text.Length + 1), extras[rng.Next(extras.Length)]);
        string s = text.ToString();
        if (!s.IsNormalized() || s.Contains('\u2581') || s.Any(char.IsSurrogate) && !IsValidUtf16(s)) return;
        foreach (var t in new[] { Gemma.Value, Demo.Value })
        {
            int[] ids = t.Encode(s);
            Assert.Equal(s, t.Decode(ids));
            Assert.Equal(s, StreamDecode(t, ids));
        }
    }

    [Property(MaxTest = 60)]
    public void No_token_covers_more_than_MaxPieceChars_characters(string? raw, int seed)
    {
        // The server's length bound refuses text of n characters when n / MaxPieceChars tokens would already be too many,
        // before running BPE: the encoding itself (the reference) must never beat that bound. Texts are runs of random
        // pieces, the longest ones favoured, around arbitrary FsCheck text.
        var rng = new Random(seed);
        foreach (var t in new[] { Gemma.Value, Demo.Value })
        {
            var longest = Enumerable.Range(0, t.VocabularySize).Where(id => t.Type(id) is PieceType.Normal or PieceType.UserDefined)
                .OrderByDescending(id => t.Piece(id).Length).Take(200).ToArray();
            var ids = Enumerable.Range(0, 1 + rng.Next(30)).Select(_ => rng.Next(3) == 0 ? rng.Next(3, t.VocabularySize) : longest[rng.Next(longest.Length)]).ToArray();
            string text = (raw ?? "") + t.Decode(ids);
            int tokens = t.Encode(text).Length;
            Assert.True((long)tokens * t.MaxPieceChars >= text.Length, $"{text.Length} characters in {tokens} tokens, MaxPieceChars {t.MaxPieceChars}");
        }
    }

    static bool IsValidUtf16(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
            if (char.IsSurrogate(s[i])) return false;
        }
        return true;
    }

    [Fact]
    public void Bad_tokenizer_files_are_refused_with_the_path()
    {
        string dir = TestData.NewTempDirectory();
        Assert.Contains("no tokenizer.model", Assert.Throws<TokenizerException>(() => GemmaTokenizer.Load(dir)).Message);
        Assert.Contains("does not exist", Assert.Throws<TokenizerException>(() => GemmaTokenizer.Load(Path.Combine(dir, "x.model"))).Message);
        string garbage = Path.Combine(dir, "tokenizer.model");
        File.WriteAllBytes(garbage, [0xFF, 0xFF, 0xFF, 0x01, 0x02]);
        var e = Assert.Throws<TokenizerException>(() => GemmaTokenizer.Load(garbage));
        Assert.Contains(garbage, e.Message);
        Assert.Throws<TokenizerException>(() => Gemma.Value.Decode([5, 256000]));
        Assert.Throws<TokenizerException>(() => Gemma.Value.CreateStreamingDecoder().Append(-1));
    }
}
