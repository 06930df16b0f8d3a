using RecurrentGemma.Core.State;

namespace RecurrentGemma.Core.Model;

/// <summary>
/// One sequence's part of a ragged batch: its state and the tokens to feed it (many for a prefill, one for a decode step).
/// Logits come back for the last token, or for every token when <see cref="AllLogits"/> is set.
/// </summary>
public readonly record struct BatchEntry(SequenceState State, ReadOnlyMemory<int> Tokens, bool AllLogits = false)
{
    public int LogitRows => AllLogits ? Tokens.Length : 1;
}
