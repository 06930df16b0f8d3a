using System.CommandLine;
using RecurrentGemma.Core.Checkpoint;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Kernels;

namespace RecurrentGemma.Cli.Commands;

/// <summary>
/// rgemma forward: the parity tool. Prefill the ids, then N greedy decode steps; writes prefill_logits [T,V],
/// generated_ids [N] and decode_logits [N,V] (row i = logits after feeding generated_ids[i]) as float32/int64 safetensors,
/// named like the golden reference files so any implementation can be compared tensor by tensor.
/// </summary>
public static class ForwardCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new ModelOptions(demoDefault: false);
        var ids = new Option<string>("--ids") { Description = "prompt token ids, comma-separated (e.g. 2,651,1234)", Required = true };
        var generate = new Option<int>("--generate") { Description = "greedy decode steps after the prefill", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out") { Description = "output .safetensors file (written atomically)", Required = true };
        var command = new Command("forward", "Run a prefill and greedy decode steps; write logits and ids as safetensors for parity checks")
        {
            ids, generate, output,
        };
        model.AddTo(command);
        command.SetAction(parse => Execute(() => model.Open(parse), parse.GetValue(ids)!, parse.GetValue(generate), parse.GetValue(output)!, stdout));
        return command;
    }

    static int Execute(Func<RecurrentGemmaModel> openModel, string idsText, int generate, string outPath, TextWriter stdout)
    {
        int[] prompt = TokenIdList.Parse(idsText, "--ids");
        if (generate < 0) throw new UsageException($"--generate: {generate} must be 0 or more");
        string outFull = Path.GetFullPath(outPath);
        if (Directory.Exists(outFull)) throw new UsageException($"--out: {outPath} is a directory; expected a file path");
        string? outDir = Path.GetDirectoryName(outFull);
        if (outDir is null || !Directory.Exists(outDir)) throw new UsageException($"--out: directory {outDir} does not exist");

        using var loaded = openModel();
        int vocab = loaded.Config.VocabSize;
        TokenIdList.CheckVocabulary(prompt, vocab, "--ids");

        var pass = loaded.CreateForwardPass();
        var state = loaded.CreateState();
        var prefill = new float[prompt.Length * vocab];
        pass.Run([new BatchEntry(state, prompt, AllLogits: true)], prefill);

        var generated = new long[generate];
        var decode = new float[generate * vocab];
        int next = Reductions.ArgMax(prefill.AsSpan((prompt.Length - 1) * vocab, vocab));
        var token = new int[1];
        for (int i = 0; i < generate; i++)
        {
            generated[i] = next;
            token[0] = next;
            var row = decode.AsSpan(i * vocab, vocab);
            pass.Run([new BatchEntry(state, token)], row);
            next = Reductions.ArgMax(row);
        }

        new SafetensorsWriter()
            .Add("prefill_logits", prefill, prompt.Length, vocab)
            .Add("generated_ids", generated, generate)
            .Add("decode_logits", decode, generate, vocab)
            .Write(outFull);
        stdout.WriteLine($"wrote {outPath}: prefill_logits [{prompt.Length}, {vocab}], generated_ids [{generate}], decode_logits [{generate}, {vocab}]");
        if (generate > 0) stdout.WriteLine($"generated_ids: {string.Join(",", generated)}");
        return 0;
    }
}
