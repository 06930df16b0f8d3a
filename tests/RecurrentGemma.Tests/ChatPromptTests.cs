using RecurrentGemma.Core;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Tokenizer;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>Chat requests as ids: Gemma's turn format, system text folded, and each turn's prompt a prefix of the next (what the state cache relies on).</summary>
public class ChatPromptTests
{
    static readonly GemmaTokenizer Tokenizer = GemmaTokenizer.Load(TestData.DataFile("tokenizer/tokenizer.model"));

    static ChatTurn U(string text) => new(TurnRole.User, text);
    static ChatTurn M(string text) => new(TurnRole.Model, text);
    static ChatTurn S(string text) => new(TurnRole.System, text);

    [Fact]
    public void One_turn_is_the_gemma_template_and_decodes_back_to_it()
    {
        var prompt = ChatPrompt.Encode(Tokenizer, [U("Hello there")]);
        Assert.Equal(Tokenizer.BosId, prompt.Ids[0]);
        Assert.Equal("<start_of_turn>user\nHello there<end_of_turn>\n<start_of_turn>model\n", Tokenizer.Decode(prompt.Ids));
        Assert.Equal([prompt.Ids.Length], prompt.Checkpoints);
        Assert.Equal(ChatTemplate.Format([U("Hello there")]), Tokenizer.Decode(prompt.Ids));
    }

    [Fact]
    public void System_text_is_folded_into_the_first_user_turn_with_a_checkpoint_after_it()
    {
        var prompt = ChatPrompt.Encode(Tokenizer, [S("Be brief."), U("Hi")]);
        Assert.Equal("<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n", Tokenizer.Decode(prompt.Ids));
        Assert.Equal(2, prompt.Checkpoints.Count);
        Assert.Equal("<start_of_turn>user\nBe brief.\n\n", Tokenizer.Decode(prompt.Ids.AsSpan(0, prompt.Checkpoints[0])));
        // Another request with the same system prompt starts with the same ids up to that checkpoint.
        var other = ChatPrompt.Encode(Tokenizer, [S("Be brief."), U("Something else entirely")]);
        Assert.Equal(prompt.Ids[..prompt.Checkpoints[0]], other.Ids[..other.Checkpoints[0]]);
    }

    [Fact]
    public void A_follow_up_turn_starts_with_the_previous_prompt_and_the_answer_ids()
    {
        var first = ChatPrompt.Encode(Tokenizer, [S("Sys."), U("Question one?")]);
        string answer = "An answer, with words.";
        var second = ChatPrompt.Encode(Tokenizer, [S("Sys."), U("Question one?"), M(answer), U("Question two?")]);
        int[] expectedStart = [.. first.Ids, .. Tokenizer.Encode(answer)];
        Assert.Equal(expectedStart, second.Ids[..expectedStart.Length]);
        Assert.Equal("<end_of_turn>\n<start_of_turn>user\nQuestion two?<end_of_turn>\n<start_of_turn>model\n", Tokenizer.Decode(second.Ids.AsSpan(expectedStart.Length)));
    }

    [Fact]
    public void Consecutive_messages_of_one_role_are_joined_and_later_system_text_goes_into_the_next_user_turn()
    {
        var prompt = ChatPrompt.Encode(Tokenizer, [U("a"), U("b"), M("c"), S("rule"), U("d")]);
        Assert.Equal("<start_of_turn>user\na\n\nb<end_of_turn>\n<start_of_turn>model\nc<end_of_turn>\n<start_of_turn>user\nrule\n\nd<end_of_turn>\n<start_of_turn>model\n",
            Tokenizer.Decode(prompt.Ids));
    }

    [Theory]
    [InlineData("empty")]
    [InlineData("model first")]
    [InlineData("ends with model")]
    [InlineData("system last")]
    [InlineData("system only")]
    public void Impossible_conversations_are_refused_with_the_reason(string what)
    {
        ChatTurn[] messages = what switch
        {
            "empty" => [],
            "model first" => [M("hi"), U("x")],
            "ends with model" => [U("x"), M("y")],
            "system last" => [U("x"), M("y"), S("z")],
            _ => [S("z")],
        };
        var e = Assert.Throws<RecurrentGemmaException>(() => ChatPrompt.Encode(Tokenizer, messages));
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
    }
}
