using System.CommandLine;
using RecurrentGemma.Core.Generation;

namespace RecurrentGemma.Cli.Commands;

/// <summary>
/// rgemma chat: an interactive multi-turn conversation in the instruction-tuned template. The recurrent state is kept
/// between turns, so each turn prefills only its own new tokens. Commands: /reset (new conversation), /save FILE and
/// /load FILE (the whole conversation state, see <see cref="Core.State.StateSnapshot"/>), /exit.
/// </summary>
public static class ChatCommand
{
    public static Command Create(TextReader stdin, TextWriter stdout, TextWriter stderr, ProgressBar progress)
    {
        var model = new ModelOptions(demoDefault: true);
        var sampling = new SamplingOptions();
        var command = new Command("chat", "Chat with an instruction-tuned model (one line per turn; /reset starts over, /save FILE and /load FILE keep a conversation, /exit or end of input quits)");
        model.AddTo(command, withTokenizer: true);
        sampling.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            var parameters = sampling.Create(parse);
            using var generator = model.OpenGenerator(parse, stderr, progress);
            var tokenizer = generator.RequireTokenizer();
            if (tokenizer.StartOfTurnId < 0) stderr.WriteLine("rgemma: warning: this tokenizer has no <start_of_turn> piece; the chat template will be tokenized as plain text");
            var session = generator.CreateSession();
            stderr.WriteLine("rgemma: chat started; /reset starts a new conversation, /save FILE and /load FILE keep one, /exit quits");
            while (!cancellation.IsCancellationRequested)
            {
                stderr.Write("> ");
                string? line = stdin.ReadLine();
                if (line is null || line.Trim() == "/exit") break;
                if (line.Trim() == "/reset")
                {
                    session.Reset();
                    stderr.WriteLine("rgemma: conversation reset");
                    continue;
                }
                if (line.Trim().Length == 0) continue;
                if (line.StartsWith("/save ", StringComparison.Ordinal) || line.StartsWith("/load ", StringComparison.Ordinal))
                {
                    string file = line[6..].Trim();
                    try
                    {
                        if (line[1] == 's') session.SaveSnapshot(file);
                        else session.LoadSnapshot(file);
                        stderr.WriteLine($"rgemma: conversation {(line[1] == 's' ? "saved to" : "loaded from")} {file} ({session.Position} tokens)");
                    }
                    catch (Exception e) when (e is Core.RecurrentGemmaException or IOException or UnauthorizedAccessException)
                    {
                        stderr.WriteLine($"rgemma: error: {e.Message}");
                    }
                    continue;
                }
                string turn = ChatTemplate.NextUserTurn(line, closeModelTurn: session.Position > 0);
                await GenerateCommand.Stream(session, tokenizer.Encode(turn, addBos: session.Position == 0), parameters, stdout, stderr, cancellation);
            }
            return 0;
        });
        return command;
    }
}
