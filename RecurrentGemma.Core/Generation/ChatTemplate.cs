using System.Text;

namespace RecurrentGemma.Core.Generation;

/// <summary>Who wrote a message. Gemma has no system role: <see cref="ChatPrompt"/> folds system text into the next user turn.</summary>
public enum TurnRole { User, Model, System }

public sealed record ChatTurn(TurnRole Role, string Content);

/// <summary>
/// The instruction-tuned Gemma turn format: each turn is <c>&lt;start_of_turn&gt;{user|model}\n{text}&lt;end_of_turn&gt;\n</c>,
/// roles alternate starting with the user, and a prompt for the model's answer ends with <c>&lt;start_of_turn&gt;model\n</c>.
/// <c>&lt;bos&gt;</c> is the id the tokenizer adds in front, not text. The model ends its turn with <c>&lt;end_of_turn&gt;</c>.
/// </summary>
public static class ChatTemplate
{
    public const string StartOfTurn = "<start_of_turn>", EndOfTurn = "<end_of_turn>";

    /// <summary>The text of a whole conversation, then the opening of the model's next turn.</summary>
    public static string Format(IReadOnlyList<ChatTurn> messages)
    {
        var text = new StringBuilder();
        for (int i = 0; i < messages.Count; i++)
        {
            var expected = i % 2 == 0 ? TurnRole.User : TurnRole.Model;
            if (messages[i].Role != expected)
                throw new RecurrentGemmaException($"chat message {i} is from the {Name(messages[i].Role)}; turns must alternate user, model, user, ... starting with the user");
            AppendTurn(text, messages[i]);
        }
        if (messages.Count % 2 == 0) throw new RecurrentGemmaException("the conversation must end with a user turn for the model to answer");
        return text.Append(StartOfTurn).Append("model\n").ToString();
    }

    /// <summary>
    /// The text to feed when a conversation whose state already holds everything up to the model's last answer gets a
    /// new user message: closes the model's turn, adds the user's, opens the model's (so a chat turn only prefills this).
    /// </summary>
    public static string NextUserTurn(string userMessage, bool closeModelTurn) =>
        (closeModelTurn ? EndOfTurn + "\n" : "") + StartOfTurn + "user\n" + userMessage + EndOfTurn + "\n" + StartOfTurn + "model\n";

    static void AppendTurn(StringBuilder text, ChatTurn m) =>
        text.Append(StartOfTurn).Append(Name(m.Role)).Append('\n').Append(m.Content).Append(EndOfTurn).Append('\n');

    static string Name(TurnRole role) => role switch { TurnRole.User => "user", TurnRole.Model => "model", _ => "system" };
}
