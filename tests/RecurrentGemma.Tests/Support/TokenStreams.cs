using RecurrentGemma.Core.Serving;

namespace RecurrentGemma.Tests.Support;

/// <summary>Reads a token stream the way a caller does.</summary>
public static class TokenStreams
{
    /// <summary>The ids of the stream (the final text-only item has none), leaving the loop after <paramref name="stopAfter"/> of them.</summary>
    public static async Task<int[]> Ids(IAsyncEnumerable<GeneratedToken> tokens, int stopAfter = int.MaxValue)
    {
        var ids = new List<int>();
        await foreach (var t in tokens)
        {
            if (t.Id >= 0) ids.Add(t.Id);
            if (ids.Count >= stopAfter) break;
        }
        return [.. ids];
    }
}
