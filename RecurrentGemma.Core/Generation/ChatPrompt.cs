using RecurrentGemma.Core.Tokenizer;
using static RecurrentGemma.Core.Generation.ChatTemplate;

namespace RecurrentGemma.Core.Generation;

/// <summary>
/// A chat request as token ids in the Gemma turn format, with the positions worth caching a state at
/// (<see cref="PromptStateCache"/>). Built segment by segment so that a conversation's prompt always starts with the exact
/// ids of its earlier turns' prompts: <c>&lt;bos&gt;</c>, the first user turn's opening and system text (a checkpoint:
/// requests sharing a system prompt share its prefill), the user text and the model turn's opening (a checkpoint), the
/// model's answer, the next user turn, and so on. The answer segment is the answer's own encoding, which is the ids the
/// model generated whenever it generated the canonical tokenization (so a follow-up turn reuses the whole state).
/// <para>
/// Message rules: system messages are folded into the next user turn (Gemma has no system role); consecutive messages
/// of one role are joined with a blank line; after folding the turns must start and end with the user.
/// </para>
/// </summary>
public sealed record ChatPrompt(int[] Ids, IReadOnlyList<int> Checkpoints)
{
    sealed class Turn(TurnRole role, string text, string? system)
    {
        public readonly TurnRole Role = role;
        public string Text = text;
        public readonly string? System = system;
    }

    public static ChatPrompt Encode(GemmaTokenizer tokenizer, IReadOnlyList<ChatTurn> messages)
    {
        var turns = Fold(messages);
        var ids = new List<int> { tokenizer.BosId };
        var checkpoints = new List<int>();
        for (int t = 0; t < turns.Count; t++)
        {
            var turn = turns[t];
            if (turn.Role == TurnRole.Model)
            {
                ids.AddRange(tokenizer.Encode(turn.Text));
                continue;
            }
            string open = (t > 0 ? EndOfTurn + "\n" : "") + StartOfTurn + "user\n";
            string text = turn.Text;
            if (turn.System is { } system)
            {
                if (t == 0)
                {
                    ids.AddRange(tokenizer.Encode(open + system + "\n\n"));
                    checkpoints.Add(ids.Count);
                    open = "";
                }
                else text = system + "\n\n" + text;
            }
            ids.AddRange(tokenizer.Encode(open + text + EndOfTurn + "\n" + StartOfTurn + "model\n"));
        }
        checkpoints.Add(ids.Count);
        return new ChatPrompt([.. ids], checkpoints);
    }

    static List<Turn> Fold(IReadOnlyList<ChatTurn> messages)
    {
        if (messages.Count == 0) throw new RecurrentGemmaException("messages is empty; a chat needs at least one user message");
        var turns = new List<Turn>();
        var system = new List<string>();
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            if (m.Role == TurnRole.System) { system.Add(m.Content); continue; }
            if (m.Role == TurnRole.Model && turns.Count == 0)
                throw new RecurrentGemmaException($"message {i} is from the assistant before any user message; a conversation starts with the user (system messages are folded into the first user turn)");
            bool sameRole = turns.Count > 0 && turns[^1].Role == m.Role;
            if (sameRole && system.Count == 0) { turns[^1].Text += "\n\n" + m.Content; continue; }
            if (m.Role == TurnRole.Model && system.Count > 0)
                throw new RecurrentGemmaException($"message {i} is from the assistant right after a system message; system text must be followed by a user message to fold into");
            string? folded = system.Count > 0 ? string.Join("\n\n", system) : null;
            system.Clear();
            if (sameRole) turns[^1].Text += "\n\n" + folded + "\n\n" + m.Content;
            else turns.Add(new Turn(m.Role, m.Content, folded));
        }
        if (system.Count > 0) throw new RecurrentGemmaException("the last messages are system messages with no user message after them to fold into");
        if (turns[^1].Role != TurnRole.User) throw new RecurrentGemmaException("the conversation must end with a user message for the model to answer");
        return turns;
    }
}
