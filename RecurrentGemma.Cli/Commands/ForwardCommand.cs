using System.CommandLine;
using RecurrentGemma.Core.Checkpoint;
using RecurrentGemma.Core.Model;
using RecurrentGemma.Core.Sampling;

namespace RecurrentGemma.Cli.Commands;

/// <summary>
/// rgemma forward: the parity tool. Prefill the ids, then N greedy decode steps; writes prefill_logits [T,V],
/// generated_ids [N] and decode_logits [N,V] (row i = logits after feeding generated_ids[i]) as float32/int64 safetensors,
/// named like the golden reference files so any implementation can be compared tensor by tensor. With --reference it
/// takes the prompt and step count from a golden file and compares against it itself (what CI runs on every build
/// kind: JIT, NativeAOT, arm64 under emulation).
/// </summary>
public static class ForwardCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new ModelOptions(demoDefault: false);
        var ids = new Option<string?>("--ids") { Description = "prompt token ids, comma-separated (e.g. 2,651,1234); with --reference: its prompt_ids" };
        var generate = new Option<int?>("--generate") { Description = "greedy decode steps after the prefill (default 0; with --reference: as many as it has)" };
        var output = new Option<string?>("--out") { Description = "output .safetensors file (written atomically); optional with --reference" };
        var reference = new Option<string?>("--reference")
        {
            Description = "golden .safetensors (prompt_ids, prefill_logits, generated_ids, decode_logits): compare against it; exit 1 on a mismatch",
        };
        var tolerance = new Option<float>("--tolerance")
        {
            Description = "max-abs logit difference allowed by --reference (default 5e-4; a quantized run, --weights q8|q4, decodes along the reference's ids and needs a looser one)",
            DefaultValueFactory = _ => 5e-4f,
        };
        var command = new Command("forward", "Run a prefill and greedy decode steps; write logits and ids as safetensors, or check them against a reference")
        {
            ids, generate, output, reference, tolerance,
        };
        model.AddTo(command);
        command.SetAction(parse =>
        {
            string? referencePath = parse.GetValue(reference);
            ForwardReference? golden = referencePath is null ? null : ForwardReference.Load(referencePath);
            string idsText = parse.GetValue(ids) ?? (golden is null ? throw new UsageException("--ids is required (or --reference)") : string.Join(",", golden.PromptIds));
            string? outPath = parse.GetValue(output);
            if (outPath is null && golden is null) throw new UsageException("--out is required (or --reference)");
            int steps = parse.GetValue(generate) ?? golden?.GeneratedIds.Length ?? 0;
            float tol = parse.GetValue(tolerance);
            if (!(tol >= 0)) throw new UsageException($"--tolerance: {tol} must be 0 or more");
            return Execute(() => model.Open(parse), idsText, steps, outPath, golden, tol, stdout);
        });
        return command;
    }

    static int Execute(Func<RecurrentGemmaModel> openModel, string idsText, int generate, string? outPath, ForwardReference? golden, float tolerance, TextWriter stdout)
    {
        int[] prompt = TokenIdList.Parse(idsText, "--ids");
        CountRange.ForwardTokens.Check("--ids (count)", prompt.Length);
        CountRange.ForwardTokens.Check("--generate", generate);
        string? outFull = outPath is null ? null : Path.GetFullPath(outPath);
        if (outFull is not null)
        {
            if (Directory.Exists(outFull)) throw new UsageException($"--out: {outPath} is a directory; expected a file path");
            string? outDir = Path.GetDirectoryName(outFull);
            if (outDir is null || !Directory.Exists(outDir)) throw new UsageException($"--out: directory {outDir} does not exist");
        }

        using var loaded = openModel();
        int vocab = loaded.Config.VocabSize;
        TokenIdList.CheckVocabulary(prompt, vocab, "--ids");
        foreach (var (flag, rows) in new[] { ("--ids", prompt.Length), ("--generate", generate) })
            if ((long)rows * vocab > Array.MaxLength)
                throw new UsageException($"{flag}: {rows} rows of {vocab} logits do not fit one buffer; use at most {Array.MaxLength / vocab}");

        var pass = loaded.CreateForwardPass();
        var state = loaded.CreateState();
        var prefill = new float[(long)prompt.Length * vocab];
        pass.Run([new BatchEntry(state, prompt, AllLogits: true)], prefill);

        var generated = new long[generate];
        var decode = new float[(long)generate * vocab];
        int next = Sampler.Greedy(prefill.AsSpan((prompt.Length - 1) * vocab, vocab));
        var token = new int[1];
        // Quantized weights change some greedy picks; decoding along the reference's ids keeps its decode logits
        // comparable row for row (the tolerance then measures the quantization error, not a diverged continuation).
        bool teacherForced = golden is not null && loaded.Weights.Format != WeightFormat.Bf16;
        for (int i = 0; i < generate; i++)
        {
            generated[i] = next;
            token[0] = teacherForced && i < golden!.GeneratedIds.Length ? (int)golden.GeneratedIds[i] : next;
            var row = decode.AsSpan(i * vocab, vocab);
            pass.Run([new BatchEntry(state, token)], row);
            next = Sampler.Greedy(row);
        }

        if (outFull is not null)
        {
            new SafetensorsWriter()
                .Add("prefill_logits", prefill, prompt.Length, vocab)
                .Add("generated_ids", generated, generate)
                .Add("decode_logits", decode, generate, vocab)
                .Write(outFull);
            stdout.WriteLine($"wrote {outPath}: prefill_logits [{prompt.Length}, {vocab}], generated_ids [{generate}], decode_logits [{generate}, {vocab}]");
        }
        if (generate > 0) stdout.WriteLine($"generated_ids: {string.Join(",", generated)}");
        return golden is null ? 0 : golden.Compare(prefill, generated, decode, tolerance, stdout, teacherForced);
    }
}
