using System.Runtime.InteropServices;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Model;

namespace RecurrentGemma.Native;

/// <summary>
/// The C entry points (include/recurrentgemma.h). Each one validates its arguments and runs its body through
/// <see cref="Guard"/>, which turns any exception into a status plus the thread's last-error message, so none ever
/// crosses into C.
/// This part: version, errors, models, tokenizer.
/// </summary>
public static unsafe partial class Exports
{
    static readonly byte* Version = (byte*)Marshal.StringToCoTaskMemUTF8(typeof(Exports).Assembly.GetName().Version?.ToString(3) ?? "0");

    static Status Guard(Func<Status> body)
    {
        try
        {
            return body();
        }
        catch (Exception e)
        {
            return StatusMapping.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rg_version")]
    public static byte* GetVersion() => Version;

    [UnmanagedCallersOnly(EntryPoint = "rg_last_error")]
    public static byte* GetLastError() => LastError.Get();

    [UnmanagedCallersOnly(EntryPoint = "rg_sampling_params_init")]
    public static Status SamplingParamsInit(SamplingParams* parameters) => Guard(() =>
    {
        Arguments.NotNull(parameters, "rg_sampling_params_init", "params");
        *parameters = SamplingParams.Defaults();
        return Status.Ok;
    });

    [UnmanagedCallersOnly(EntryPoint = "rg_model_load")]
    public static Status ModelLoad(byte* path, int threads, nint* outModel) => Guard(() =>
        Load("rg_model_load", path, outModel, F =>
            threads >= 0 ? new ModelLoadOptions { Threads = threads }
            : throw new AbiArgumentException($"{F}: threads is {threads}; expected 0 (one per processor) or more")));

    /// <summary>
    /// The body both load entry points share: out_model cleared, path checked, then the options (checked by the
    /// caller's reader, after the path), the model opened and registered.
    /// </summary>
    static Status Load(string function, byte* path, nint* outModel, Func<string, ModelLoadOptions> options)
    {
        Arguments.NotNull(outModel, function, "out_model");
        *outModel = 0;
        string spec = Arguments.Utf8(path, function, "path");
        var generator = TextGenerator.Open(spec, options(function));
        *outModel = Handles.Models.Add(new NativeModel(generator));
        return Status.Ok;
    }

    [UnmanagedCallersOnly(EntryPoint = "rg_model_options_init")]
    public static Status ModelOptionsInit(ModelOptions* options) => Guard(() =>
    {
        Arguments.NotNull(options, "rg_model_options_init", "options");
        *options = ModelOptions.Defaults();
        return Status.Ok;
    });

    /// <summary>rg_model_load with options: threads and the weight format (quantize at load, or a packed folder's own).</summary>
    [UnmanagedCallersOnly(EntryPoint = "rg_model_load_ex")]
    public static Status ModelLoadEx(byte* path, ModelOptions* options, nint* outModel) => Guard(() =>
        Load("rg_model_load_ex", path, outModel, F =>
        {
            Arguments.NotNull(options, F, "options");
            return options->ToLoadOptions(F);
        }));

    [UnmanagedCallersOnly(EntryPoint = "rg_model_free")]
    public static Status ModelFree(nint model) => Guard(() =>
    {
        if (model == 0) return Status.Ok;   // like free(NULL)
        Handles.Models.Get(model, "rg_model_free", "model");
        if (!Handles.Models.Remove(model, out var native)) return Status.Ok;
        foreach (nint session in native!.Sessions.Keys) Handles.Sessions.Remove(session, out _);
        native.Generator.Dispose();
        return Status.Ok;
    });

    [UnmanagedCallersOnly(EntryPoint = "rg_model_vocab_size")]
    public static Status ModelVocabSize(nint model, int* outSize) => Guard(() =>
    {
        var native = Handles.Models.Get(model, "rg_model_vocab_size", "model");
        Arguments.NotNull(outSize, "rg_model_vocab_size", "out_size");
        *outSize = native.Generator.Model.Config.VocabSize;
        return Status.Ok;
    });

    [UnmanagedCallersOnly(EntryPoint = "rg_tokenize")]
    public static Status Tokenize(nint model, byte* text, int addBos, int* ids, nuint capacity, nuint* outCount) => Guard(() =>
    {
        const string F = "rg_tokenize";
        var native = Handles.Models.Get(model, F, "model");
        string s = Arguments.Utf8(text, F, "text");
        int[] encoded = native.Generator.RequireTokenizer().Encode(s, addBos != 0);
        return Arguments.CopyOut<int>(encoded, ids, capacity, outCount, F, "ids", "out_count");
    });

    [UnmanagedCallersOnly(EntryPoint = "rg_detokenize")]
    public static Status Detokenize(nint model, int* ids, nuint count, byte* buffer, nuint capacity, nuint* outSize) => Guard(() =>
    {
        const string F = "rg_detokenize";
        var native = Handles.Models.Get(model, F, "model");
        var tokens = Arguments.Array(ids, count, F, "ids");
        string text = native.Generator.RequireTokenizer().Decode(tokens);
        // NUL-terminated: the size reported excludes the terminator, the capacity must include it.
        byte[] utf8 = new byte[System.Text.Encoding.UTF8.GetByteCount(text) + 1];
        System.Text.Encoding.UTF8.GetBytes(text, utf8);
        var status = Arguments.CopyOut<byte>(utf8, buffer, capacity, outSize, F, "buffer", "out_size");
        *outSize -= 1;
        return status;
    });
}
