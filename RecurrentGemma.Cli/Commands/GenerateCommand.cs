using System.CommandLine;
using System.Text;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Core.Generation;

namespace RecurrentGemma.Cli.Commands;

/// <summary>rgemma generate: text in, streamed text out (stdout); usage on stderr.</summary>
public static class GenerateCommand
{
    public static Command Create(TextReader stdin, TextWriter stdout, TextWriter stderr, ProgressBar progress)
    {
        var model = new ModelOptions(demoDefault: true);
        var sampling = new SamplingOptions();
        var prompt = new Argument<string?>("prompt") { Description = "the prompt text, or - to read it from standard input (UTF-8)", Arity = ArgumentArity.ZeroOrOne };
        var batchFile = new Option<string?>("--batch-file") { Description = "JSONL requests, one per line ({\"prompt\": ...} or {\"ids\": [...]}, optional sampling fields), run together; JSONL results on stdout in input order" };
        var chat = new Option<bool>("--chat") { Description = "wrap the prompt in the instruction-tuned chat template (one user turn)" };
        var maxPrompt = new Option<int>("--max-prompt-tokens") { Description = "refuse prompts longer than this", DefaultValueFactory = _ => 65536 };
        var command = new Command("generate", "Continue a prompt, streaming the text to stdout (the prompt is echoed first, except with --chat)") { prompt, chat, maxPrompt, batchFile };
        model.AddTo(command, withTokenizer: true);
        sampling.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            var parameters = sampling.Create(parse);
            int limit = CountRange.PositiveTokens.Check("--max-prompt-tokens", parse.GetValue(maxPrompt));
            if (parse.GetValue(batchFile) is { } batch)
            {
                if (parse.GetValue(prompt) is not null) throw new UsageException("give either a prompt or --batch-file, not both");
                var lines = BatchFile.Read(batch);
                using var batchGenerator = model.OpenGenerator(parse, stderr, progress);
                batchGenerator.MaxPromptTokens = limit;
                return await BatchFile.Run(batchGenerator, lines, parameters, parse.GetValue(chat), stdout, cancellation);
            }
            string text = PromptText.Read(parse.GetValue(prompt) ?? throw new UsageException("give a prompt (or - for standard input, or --batch-file)"), stdin);
            using var generator = model.OpenGenerator(parse, stderr, progress);
            generator.MaxPromptTokens = limit;
            var tokenizer = generator.RequireTokenizer();
            bool asChat = parse.GetValue(chat);
            int[] ids = tokenizer.Encode(asChat ? ChatTemplate.Format([new ChatTurn(TurnRole.User, text)]) : text, addBos: true);
            if (ids.Length > limit) throw new UsageException($"the prompt is {ids.Length} tokens; --max-prompt-tokens is {limit}");
            if (!asChat) stdout.Write(text);
            var session = generator.CreateSession();
            if (ids.Length > 256) session.PrefillProgress = progress.For("prefill");
            return await Stream(session, ids, parameters, stdout, stderr, cancellation);
        });
        return command;
    }

    internal static async Task<int> Stream(GenerationSession session, int[] ids, Core.Sampling.SamplingParameters parameters, TextWriter stdout, TextWriter stderr, CancellationToken cancellation)
    {
        await foreach (var token in session.GenerateAsync(ids, parameters, cancellation))
        {
            if (string.IsNullOrEmpty(token.Text)) continue;
            stdout.Write(token.Text);
            stdout.Flush();
        }
        stdout.WriteLine();
        var u = session.LastUsage!;
        stderr.WriteLine($"rgemma: {u.PromptTokens} prompt tokens ({u.PrefillTokensPerSecond:F1} tok/s), {u.GeneratedTokens} generated ({u.DecodeTokensPerSecond:F1} tok/s), stopped: {Describe(u.StopReason)}");
        return 0;
    }

    static string Describe(StopReason reason) => reason switch
    {
        StopReason.MaxTokens => "--max-tokens reached",
        StopReason.EndOfSequence => "end of sequence",
        StopReason.EndOfTurn => "end of turn",
        StopReason.StopString => "stop string",
        _ => "cancelled",
    };
}

/// <summary>A prompt argument: the text itself, or "-" for standard input, which must be valid UTF-8.</summary>
internal static class PromptText
{
    public static string Read(string argument, TextReader stdin)
    {
        if (argument != "-") return argument;
        try
        {
            return stdin.ReadToEnd();
        }
        catch (DecoderFallbackException e)
        {
            throw new UsageException($"standard input is not valid UTF-8 ({e.Message})");
        }
    }
}
