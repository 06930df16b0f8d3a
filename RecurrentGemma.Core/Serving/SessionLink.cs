namespace RecurrentGemma.Core.Serving;

using RecurrentGemma.Core.State;

/// <summary>
/// A conversation's side of a request: its state, history and last-logits buffer, which the engine continues in place
/// and leaves consistent (every emitted token fed, the logits after it kept).
/// </summary>
internal sealed class SessionLink(SequenceState state, List<int> history, float[] logits)
{
    public readonly SequenceState State = state;
    public readonly List<int> History = history;
    public readonly float[] Logits = logits;
    public bool HasLogits;
    /// <summary>Set while a request of this session is queued or running, so one state never runs twice at once.</summary>
    public int InFlight;
    /// <summary>An engine fault left the state half-advanced: the session must be reset before it runs again.</summary>
    public bool Broken;
    /// <summary>Called with the fraction of a prompt prefilled, on a thread-pool thread (never the engine's).</summary>
    public Action<double>? PrefillProgress;
}
