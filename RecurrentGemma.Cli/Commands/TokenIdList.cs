using System.Globalization;

namespace RecurrentGemma.Cli.Commands;

/// <summary>Parses "2,651,1234" into token ids, with an error that says which item is wrong.</summary>
public static class TokenIdList
{
    /// <summary>More ids than any prompt the engine takes (the scheduler's positions are 32-bit; a prompt this long is hours of prefill).</summary>
    public const int MaxItems = 1 << 24;

    public static int[] Parse(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length > MaxItems) throw new UsageException($"{option}: {parts.Length} items; at most {MaxItems}");
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]))
                throw new UsageException($"{option}: item {i + 1} '{parts[i]}' is not a token id; expected comma-separated non-negative integers like 2,651,1234");
        }
        return ids;
    }

    public static void CheckVocabulary(ReadOnlySpan<int> ids, int vocabSize, string option, string owner = "model's")
    {
        for (int i = 0; i < ids.Length; i++)
            if (ids[i] >= vocabSize)
                throw new UsageException($"{option}: token id {ids[i]} (item {i + 1}) is outside the {owner} vocabulary [0, {vocabSize})");
    }
}
