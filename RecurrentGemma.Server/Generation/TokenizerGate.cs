using RecurrentGemma.Core.Tokenizer;
using RecurrentGemma.Server.Requests;

namespace RecurrentGemma.Server.Generation;

/// <summary>
/// Tokenizing request text, bounded: a text that could not fit <see cref="ServerOptions.MaxPromptTokens"/> even if every
/// token were the tokenizer's longest piece is refused before BPE runs (an 8 MB body costs nothing), and at most
/// <see cref="Concurrency"/> texts are tokenized at once (one per processor), the rest waiting their turn without
/// holding a thread. Every route that tokenizes goes through here.
/// </summary>
public sealed class TokenizerGate(GemmaTokenizer tokenizer, int maxPromptTokens, int concurrency)
{
    readonly SemaphoreSlim _slots = new(concurrency, concurrency);

    public int Concurrency => concurrency;
    public GemmaTokenizer Tokenizer => tokenizer;

    /// <summary>
    /// Refuses <paramref name="characters"/> of text for <paramref name="field"/> when it cannot encode in
    /// <see cref="ServerOptions.MaxPromptTokens"/> tokens: no piece covers more than <see cref="GemmaTokenizer.MaxPieceChars"/> characters.
    /// </summary>
    public void CheckLength(long characters, string field)
    {
        long least = (characters + tokenizer.MaxPieceChars - 1) / tokenizer.MaxPieceChars;
        if (least > maxPromptTokens)
            throw new ApiException(400, $"{field}: the text has {characters} characters, which is at least {least} tokens (no token of this tokenizer "
                + $"covers more than {tokenizer.MaxPieceChars} characters); this server accepts at most {maxPromptTokens} (--max-prompt-tokens)",
                field, "context_length_exceeded");
    }

    /// <summary>Runs <paramref name="encode"/> when a slot is free (waiting without a thread); cancelled when the client leaves.</summary>
    public async Task<T> RunAsync<T>(Func<T> encode, CancellationToken cancellation)
    {
        await _slots.WaitAsync(cancellation).ConfigureAwait(false);
        try { return encode(); }
        finally { _slots.Release(); }
    }
}
