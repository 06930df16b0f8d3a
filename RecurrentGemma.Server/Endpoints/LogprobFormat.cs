using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.Tokenizer;
using RecurrentGemma.Server.Api;

namespace RecurrentGemma.Server.Endpoints;

/// <summary>Token log-probabilities in OpenAI's shapes: a token's text, and its UTF-8 bytes (a byte piece may be half a character).</summary>
public static class LogprobFormat
{
    public static LogprobEntry Entry(GemmaTokenizer tokenizer, int id, TokenLogprobs logprobs) => new()
    {
        Token = Text(tokenizer, id),
        Logprob = logprobs.Logprob,
        Bytes = Bytes(tokenizer, id),
        TopLogprobs = [.. logprobs.Top.Select(t => new TopLogprobEntry { Token = Text(tokenizer, t.Id), Logprob = t.Logprob, Bytes = Bytes(tokenizer, t.Id) })],
    };

    public static string Text(GemmaTokenizer tokenizer, int id) => System.Text.Encoding.UTF8.GetString(tokenizer.PieceBytes(id));

    static List<int> Bytes(GemmaTokenizer tokenizer, int id)
    {
        var bytes = tokenizer.PieceBytes(id);
        var list = new List<int>(bytes.Length);
        foreach (byte b in bytes) list.Add(b);
        return list;
    }
}
