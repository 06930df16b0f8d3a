using System.CommandLine;
using RecurrentGemma.Core.Tokenizer;

namespace RecurrentGemma.Cli.Commands;

/// <summary>rgemma tokenize / detokenize: text to ids (and pieces), ids to text.</summary>
public static class TokenizeCommands
{
    static Option<string?> TokenizerOption() => new("--tokenizer")
    {
        Description = "tokenizer.model, or a model directory holding one (default: the built-in demo model's)",
    };

    static GemmaTokenizer Load(string? path) => GemmaTokenizer.Load(path ?? DemoModel.Directory);

    public static Command Tokenize(TextReader stdin, TextWriter stdout)
    {
        var tokenizer = TokenizerOption();
        var text = new Argument<string>("text") { Description = "the text, or - to read it from standard input (UTF-8)" };
        var json = new Option<bool>("--json") { Description = "print a JSON object with ids and pieces" };
        var bos = new Option<bool>("--bos") { Description = "put <bos> first, as prompts have it" };
        var command = new Command("tokenize", "Print the token ids of a text") { text, tokenizer, json, bos };
        command.SetAction(parse =>
        {
            string input = PromptText.Read(parse.GetValue(text)!, stdin);
            var t = Load(parse.GetValue(tokenizer));
            int[] ids = t.Encode(input, parse.GetValue(bos));
            if (!parse.GetValue(json))
            {
                stdout.WriteLine(string.Join(",", ids));
                return 0;
            }
            JsonOutput.WriteLine(stdout, w =>
            {
                w.WriteStartObject();
                w.WriteStartArray("ids");
                foreach (int id in ids) w.WriteNumberValue(id);
                w.WriteEndArray();
                w.WriteStartArray("pieces");
                foreach (int id in ids) w.WriteStringValue(t.Piece(id));
                w.WriteEndArray();
                w.WriteNumber("count", ids.Length);
                w.WriteEndObject();
            });
            return 0;
        });
        return command;
    }

    public static Command Detokenize(TextReader stdin, TextWriter stdout)
    {
        var tokenizer = TokenizerOption();
        var ids = new Argument<string>("ids") { Description = "token ids, comma-separated, or - to read them from standard input" };
        var command = new Command("detokenize", "Print the text of token ids") { ids, tokenizer };
        command.SetAction(parse =>
        {
            string raw = PromptText.Read(parse.GetValue(ids)!, stdin).Trim();
            int[] parsed = TokenIdList.Parse(raw, "ids");
            var t = Load(parse.GetValue(tokenizer));
            TokenIdList.CheckVocabulary(parsed, t.VocabularySize, "ids", "tokenizer's");
            stdout.WriteLine(t.Decode(parsed));
            return 0;
        });
        return command;
    }
}
