using System.Runtime.InteropServices;
using System.Text;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Sampling;

namespace RecurrentGemma.Native;

/// <summary>The C entry points for sessions: create, fork, reset, generate with a token callback, save and restore.</summary>
public static unsafe partial class Exports
{
    [UnmanagedCallersOnly(EntryPoint = "rg_session_create")]
    public static Status SessionCreate(nint model, nint* outSession) => Guard(() =>
    {
        Arguments.NotNull(outSession, "rg_session_create", "out_session");
        *outSession = 0;
        var native = Handles.Models.Get(model, "rg_session_create", "model");
        *outSession = Handles.AddSession(native, native.Generator.CreateSession());
        return Status.Ok;
    });

    [UnmanagedCallersOnly(EntryPoint = "rg_session_fork")]
    public static Status SessionFork(nint session, nint* outSession) => Guard(() =>
    {
        Arguments.NotNull(outSession, "rg_session_fork", "out_session");
        *outSession = 0;
        var native = Handles.Sessions.Get(session, "rg_session_fork", "session");
        *outSession = Handles.AddSession(native.Model, native.Session.Fork());
        return Status.Ok;
    });

    [UnmanagedCallersOnly(EntryPoint = "rg_session_free")]
    public static Status SessionFree(nint session) => Guard(() =>
    {
        if (session == 0) return Status.Ok;   // like free(NULL)
        Handles.Sessions.Get(session, "rg_session_free", "session");
        if (Handles.Sessions.Remove(session, out var native)) native!.Model.Sessions.TryRemove(session, out _);
        return Status.Ok;
    });

    [UnmanagedCallersOnly(EntryPoint = "rg_session_reset")]
    public static Status SessionReset(nint session) => Guard(() =>
    {
        Handles.Sessions.Get(session, "rg_session_reset", "session").Session.Reset();
        return Status.Ok;
    });

    [UnmanagedCallersOnly(EntryPoint = "rg_session_position")]
    public static Status SessionPosition(nint session, int* outPosition) => Guard(() =>
    {
        var native = Handles.Sessions.Get(session, "rg_session_position", "session");
        Arguments.NotNull(outPosition, "rg_session_position", "out_position");
        *outPosition = native.Session.Position;
        return Status.Ok;
    });

    [UnmanagedCallersOnly(EntryPoint = "rg_generate")]
    public static Status Generate(nint session, int* promptIds, nuint promptCount, SamplingParams* parameters,
        delegate* unmanaged<int, byte*, nuint, void*, int> callback, void* userData, Usage* outUsage) => Guard(() =>
    {
        const string F = "rg_generate";
        var native = Handles.Sessions.Get(session, F, "session");
        int[] prompt = Arguments.Array(promptIds, promptCount, F, "prompt_ids").ToArray();
        var p = ReadParameters(parameters, F);
        return Run(native.Session.GenerateAsync(prompt, p), callback, userData, native.Session, outUsage);
    });

    [UnmanagedCallersOnly(EntryPoint = "rg_generate_text")]
    public static Status GenerateText(nint session, byte* prompt, SamplingParams* parameters,
        delegate* unmanaged<int, byte*, nuint, void*, int> callback, void* userData, Usage* outUsage) => Guard(() =>
    {
        const string F = "rg_generate_text";
        var native = Handles.Sessions.Get(session, F, "session");
        string text = Arguments.Utf8(prompt, F, "prompt");
        var p = ReadParameters(parameters, F);
        return Run(native.Session.GenerateAsync(text, p), callback, userData, native.Session, outUsage);
    });

    [UnmanagedCallersOnly(EntryPoint = "rg_session_save")]
    public static Status SessionSave(nint session, byte* buffer, nuint capacity, nuint* outSize) => Guard(() =>
    {
        var native = Handles.Sessions.Get(session, "rg_session_save", "session");
        return Arguments.CopyOut<byte>(native.Session.SaveSnapshot(), buffer, capacity, outSize, "rg_session_save", "buffer", "out_size");
    });

    [UnmanagedCallersOnly(EntryPoint = "rg_session_restore")]
    public static Status SessionRestore(nint session, byte* buffer, nuint size) => Guard(() =>
    {
        const string F = "rg_session_restore";
        var native = Handles.Sessions.Get(session, F, "session");
        native.Session.LoadSnapshot(Arguments.Array(buffer, size, F, "buffer"), "rg_session_restore buffer");
        return Status.Ok;
    });

    static SamplingParameters ReadParameters(SamplingParams* parameters, string function) =>
        parameters is null ? SamplingParameters.Greedy : parameters->ToParameters(function);

    /// <summary>
    /// Drives the token stream on the calling thread, handing each token to the callback; a non-zero return cancels
    /// the request, and the stream is drained so the session records how it ended.
    /// </summary>
    static Status Run(IAsyncEnumerable<GeneratedToken> stream, delegate* unmanaged<int, byte*, nuint, void*, int> callback, void* userData,
        GenerationSession session, Usage* outUsage)
    {
        using var cancel = new CancellationTokenSource();
        bool stopped = false;
        var text = new byte[256];
        var tokens = stream.GetAsyncEnumerator(cancel.Token);
        try
        {
            while (tokens.MoveNextAsync().AsTask().GetAwaiter().GetResult())
            {
                if (stopped || callback is null) continue;
                var token = tokens.Current;
                string piece = token.Text ?? "";
                int n = Encoding.UTF8.GetByteCount(piece);
                if (text.Length < n + 1) text = new byte[Math.Max(n + 1, text.Length * 2)];
                Encoding.UTF8.GetBytes(piece, text);
                text[n] = 0;
                fixed (byte* p = text)
                {
                    if (callback(token.Id, p, (nuint)n, userData) != 0)
                    {
                        stopped = true;
                        cancel.Cancel();
                    }
                }
            }
        }
        finally
        {
            tokens.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        if (outUsage is not null && session.LastUsage is { } u)
        {
            *outUsage = new Usage
            {
                PromptTokens = u.PromptTokens,
                GeneratedTokens = u.GeneratedTokens,
                StopReason = stopped ? 4 : (int)u.StopReason,
                PrefillSeconds = u.PrefillSeconds,
                DecodeSeconds = u.DecodeSeconds,
            };
        }
        return Status.Ok;
    }
}
