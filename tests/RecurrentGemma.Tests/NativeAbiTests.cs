using RecurrentGemma.Core.Model;
using System.Runtime.InteropServices;
using System.Text;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Native;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>
/// The C ABI of librecurrentgemma, called through the same unmanaged entry points C uses (function pointers to the
/// [UnmanagedCallersOnly] exports): golden greedy ids, the callback's stop, the size convention, state save/restore,
/// and a clear status + message for every bad pointer, handle, size, parameter and input.
/// </summary>
public unsafe class NativeAbiTests
{
    static string LastError() => Marshal.PtrToStringUTF8((nint)((delegate* unmanaged<byte*>)&Exports.GetLastError)())!;

    static Status Load(string path, out nint model)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(path + "\0");
        nint handle;
        Status s;
        fixed (byte* p = utf8) s = ((delegate* unmanaged<byte*, int, nint*, Status>)&Exports.ModelLoad)(p, 0, &handle);
        model = handle;
        return s;
    }

    static Status FreeModel(nint model) => ((delegate* unmanaged<nint, Status>)&Exports.ModelFree)(model);

    static nint NewSession(nint model)
    {
        nint session;
        Assert.Equal(Status.Ok, ((delegate* unmanaged<nint, nint*, Status>)&Exports.SessionCreate)(model, &session));
        return session;
    }

    static SamplingParams Defaults(int maxTokens)
    {
        SamplingParams p;
        Assert.Equal(Status.Ok, ((delegate* unmanaged<SamplingParams*, Status>)&Exports.SamplingParamsInit)(&p));
        p.MaxTokens = maxTokens;
        return p;
    }

    sealed class Collected
    {
        public readonly List<int> Ids = [];
        public readonly StringBuilder Text = new();
        public int StopAfter = int.MaxValue;
    }

    [UnmanagedCallersOnly]
    static int Collect(int id, byte* text, nuint length, void* user)
    {
        var c = (Collected)GCHandle.FromIntPtr((nint)user).Target!;
        if (id >= 0) c.Ids.Add(id);
        c.Text.Append(Encoding.UTF8.GetString(text, (int)length));
        Assert.Equal(0, text[length]);   // NUL-terminated
        return c.Ids.Count >= c.StopAfter ? 1 : 0;
    }

    static Status Generate(nint session, int[] prompt, SamplingParams* p, Collected into, out Usage usage)
    {
        var handle = GCHandle.Alloc(into);
        try
        {
            Usage u;
            Status s;
            fixed (int* ids = prompt)
                s = ((delegate* unmanaged<nint, int*, nuint, SamplingParams*, delegate* unmanaged<int, byte*, nuint, void*, int>, void*, Usage*, Status>)&Exports.Generate)(
                    session, ids, (nuint)prompt.Length, p, &Collect, (void*)GCHandle.ToIntPtr(handle), &u);
            usage = u;
            return s;
        }
        finally
        {
            handle.Free();
        }
    }

    static Status LoadEx(string path, ModelOptions* options, out nint model)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(path + "\0");
        nint handle;
        Status s;
        fixed (byte* p = utf8) s = ((delegate* unmanaged<byte*, ModelOptions*, nint*, Status>)&Exports.ModelLoadEx)(p, options, &handle);
        model = handle;
        return s;
    }

    [Fact]
    public void Model_options_pick_the_weight_format_and_are_checked_field_by_field()
    {
        ModelOptions o;
        Assert.Equal(Status.Ok, ((delegate* unmanaged<ModelOptions*, Status>)&Exports.ModelOptionsInit)(&o));
        Assert.Equal((uint)sizeof(ModelOptions), o.Size);
        Assert.Equal(0, o.Weights);
        o.Weights = 2;   // RG_WEIGHTS_Q8
        o.Threads = 2;
        Assert.Equal(Status.Ok, LoadEx(TestData.DemoModel, &o, out nint model));
        Assert.NotEqual(0, model);
        Assert.Equal(WeightFormat.Q8, Handles.Models.Get(model, "test", "model").Generator.Model.Weights.Format);
        Assert.Equal(Status.Ok, FreeModel(model));

        o.Weights = 4;
        Assert.Equal(Status.InvalidArgument, LoadEx(TestData.DemoModel, &o, out model));
        Assert.Equal(0, model);
        Assert.Equal("rg_model_load_ex: options->weights is 4; expected RG_WEIGHTS_AS_STORED (0), RG_WEIGHTS_BF16 (1), RG_WEIGHTS_Q8 (2) or RG_WEIGHTS_Q4 (3)", LastError());
        o.Weights = 0;
        o.Size = 4;
        Assert.Equal(Status.InvalidArgument, LoadEx(TestData.DemoModel, &o, out model));
        Assert.Contains("options->size is 4; expected sizeof(rg_model_options) = 12", LastError());
        Assert.Equal(Status.InvalidArgument, LoadEx(TestData.DemoModel, null, out model));
        Assert.Equal("rg_model_load_ex: options is NULL", LastError());
    }

    [Fact]
    public void Greedy_generation_reproduces_the_golden_ids()
    {
        var g = new GoldenCase("tiny-a");
        int[] expected = g.Ids("generated_ids");
        Assert.Equal(Status.Ok, Load(g.Directory, out nint model));
        try
        {
            var p = Defaults(expected.Length);
            var got = new Collected();
            Assert.Equal(Status.Ok, Generate(NewSession(model), g.Ids("prompt_ids"), &p, got, out var usage));
            Assert.Equal(expected, got.Ids);
            Assert.Equal(expected.Length, usage.GeneratedTokens);
            Assert.Equal(g.Ids("prompt_ids").Length, usage.PromptTokens);
            Assert.Equal(0, usage.StopReason);   // RG_STOP_MAX_TOKENS
        }
        finally
        {
            Assert.Equal(Status.Ok, FreeModel(model));
        }
    }

    [Fact]
    public void A_nonzero_callback_return_stops_generation()
    {
        var g = new GoldenCase("tiny-a");
        Assert.Equal(Status.Ok, Load(g.Directory, out nint model));
        var p = Defaults(20);
        var got = new Collected { StopAfter = 5 };
        Assert.Equal(Status.Ok, Generate(NewSession(model), g.Ids("prompt_ids"), &p, got, out var usage));
        Assert.Equal(g.Ids("generated_ids")[..5], got.Ids);
        Assert.Equal(4, usage.StopReason);   // RG_STOP_CALLBACK
        FreeModel(model);
    }

    [Fact]
    public void Saved_state_restores_into_a_new_session_and_continues_identically_and_damage_is_refused()
    {
        Assert.Equal(Status.Ok, Load(TestData.DemoModel, out nint model));
        nint a = NewSession(model), b = NewSession(model);
        var prefillOnly = Defaults(0);
        Assert.Equal(Status.Ok, Generate(a, [2, 100, 200, 300], &prefillOnly, new Collected(), out _));

        nuint size;
        var save = (delegate* unmanaged<nint, byte*, nuint, nuint*, Status>)&Exports.SessionSave;
        Assert.Equal(Status.Ok, save(a, null, 0, &size));   // size query
        var small = new byte[10];
        fixed (byte* s = small) Assert.Equal(Status.BufferTooSmall, save(a, s, (nuint)small.Length, &size));
        Assert.Contains($"{size} are needed", LastError());
        Assert.All(small, x => Assert.Equal(0, x));   // left untouched
        var snapshot = new byte[size];
        fixed (byte* s = snapshot) Assert.Equal(Status.Ok, save(a, s, size, &size));

        var restore = (delegate* unmanaged<nint, byte*, nuint, Status>)&Exports.SessionRestore;
        var damaged = (byte[])snapshot.Clone();
        damaged[damaged.Length / 2] ^= 1;
        fixed (byte* s = damaged) Assert.Equal(Status.Snapshot, restore(b, s, (nuint)damaged.Length));
        Assert.Contains("checksum mismatch", LastError());
        fixed (byte* s = snapshot) Assert.Equal(Status.Snapshot, restore(b, s, (nuint)snapshot.Length - 7));
        fixed (byte* s = snapshot) Assert.Equal(Status.Ok, restore(b, s, (nuint)snapshot.Length));

        var p = Defaults(16);
        p.Temperature = 0.9f;
        p.Seed = 7;
        Collected fromA = new(), fromB = new();
        Assert.Equal(Status.Ok, Generate(a, [], &p, fromA, out _));
        Assert.Equal(Status.Ok, Generate(b, [], &p, fromB, out _));
        Assert.Equal(16, fromA.Ids.Count);
        Assert.Equal(fromA.Ids, fromB.Ids);
        Assert.Equal(fromA.Text.ToString(), fromB.Text.ToString());
        FreeModel(model);
    }

    [Fact]
    public void Tokenize_and_detokenize_follow_the_size_convention()
    {
        Assert.Equal(Status.Ok, Load(TestData.DemoModel, out nint model));
        var tokenize = (delegate* unmanaged<nint, byte*, int, int*, nuint, nuint*, Status>)&Exports.Tokenize;
        var detokenize = (delegate* unmanaged<nint, int*, nuint, byte*, nuint, nuint*, Status>)&Exports.Detokenize;
        byte[] text = Encoding.UTF8.GetBytes("ROMEO: thou art\0");
        nuint count;
        fixed (byte* t = text) Assert.Equal(Status.Ok, tokenize(model, t, 1, null, 0, &count));
        var ids = new int[count];
        fixed (byte* t = text)
        fixed (int* i = ids)
        {
            Assert.Equal(Status.Ok, tokenize(model, t, 1, i, count, &count));
            nuint size;
            Assert.Equal(Status.Ok, detokenize(model, i, count, null, 0, &size));
            Assert.Equal((nuint)"ROMEO: thou art".Length, size);
            var buffer = new byte[size + 1];
            fixed (byte* o = buffer)
            {
                Assert.Equal(Status.BufferTooSmall, detokenize(model, i, count, o, size, &size));   // no room for the NUL
                Assert.Equal(Status.Ok, detokenize(model, i, count, o, size + 1, &size));
            }
            Assert.Equal("ROMEO: thou art\0", Encoding.UTF8.GetString(buffer));
        }
        Assert.Equal(2, ids[0]);   // <bos>
        FreeModel(model);
    }

    [Fact]
    public void Bad_arguments_give_a_status_and_a_message_never_a_crash()
    {
        var g = new GoldenCase("tiny-a");
        Assert.Equal(Status.Ok, Load(g.Directory, out nint model));
        nint session = NewSession(model);
        var collected = new Collected();

        Assert.Equal(Status.Model, Load("/nonexistent/model", out nint none));
        Assert.Equal(0, none);
        Assert.Contains("/nonexistent/model does not exist", LastError());

        Assert.Equal(Status.InvalidArgument, ((delegate* unmanaged<byte*, int, nint*, Status>)&Exports.ModelLoad)(null, 0, &none));
        Assert.Equal("rg_model_load: path is NULL", LastError());

        byte[] badUtf8 = [0x2F, 0xC3, 0x28, 0];
        fixed (byte* bad = badUtf8) Assert.Equal(Status.InvalidArgument, ((delegate* unmanaged<byte*, int, nint*, Status>)&Exports.ModelLoad)(bad, 0, &none));
        Assert.Equal("rg_model_load: path is not valid UTF-8 (bad byte sequence at byte 1)", LastError());

        Assert.Equal(Status.InvalidArgument, ((delegate* unmanaged<nint, nint*, Status>)&Exports.SessionCreate)(model, null));
        Assert.Equal("rg_session_create: out_session is NULL", LastError());

        Assert.Equal(Status.InvalidArgument, ((delegate* unmanaged<nint, Status>)&Exports.SessionReset)(0x12345));
        Assert.Contains("rg_session_reset: session 0x12345 is not a live rg_session handle", LastError());
        Assert.Equal(Status.InvalidArgument, ((delegate* unmanaged<nint, Status>)&Exports.SessionReset)(model));   // a model is not a session

        var p = Defaults(4);
        p.TopP = 2;
        Assert.Equal(Status.InvalidArgument, Generate(session, [2, 5], &p, collected, out _));
        Assert.Equal("rg_generate: params->top_p: 2 must be in (0, 1]", LastError());
        p = Defaults(4);
        p.Size = 12;
        Assert.Equal(Status.InvalidArgument, Generate(session, [2, 5], &p, collected, out _));
        Assert.Contains("params->size is 12", LastError());
        p = Defaults(4);
        p.RepeatPenalty = 0;
        Assert.Equal(Status.InvalidArgument, Generate(session, [2, 5], &p, collected, out _));
        Assert.Equal("rg_generate: params->repeat_penalty: 0 must be a positive number (1 = off)", LastError());

        p = Defaults(4);
        Assert.Equal(Status.Token, Generate(session, [2, 512], &p, collected, out _));
        Assert.Contains("512", LastError());
        Assert.Equal(Status.InvalidArgument, ((delegate* unmanaged<nint, int*, nuint, SamplingParams*, delegate* unmanaged<int, byte*, nuint, void*, int>, void*, Usage*, Status>)&Exports.Generate)(
            session, null, 3, &p, null, null, null));
        Assert.Equal("rg_generate: prompt_ids is NULL but its count is 3", LastError());

        byte[] text = "hello\0"u8.ToArray();
        nuint count;
        fixed (byte* t = text) Assert.Equal(Status.Tokenizer, ((delegate* unmanaged<nint, byte*, int, int*, nuint, nuint*, Status>)&Exports.Tokenize)(model, t, 0, null, 0, &count));
        Assert.Contains("no tokenizer.model", LastError());

        // Freeing the model frees its sessions; a second free is reported, not a crash.
        Assert.Equal(Status.Ok, FreeModel(model));
        Assert.Equal(Status.InvalidArgument, ((delegate* unmanaged<nint, Status>)&Exports.SessionReset)(session));
        Assert.Equal(Status.InvalidArgument, FreeModel(model));
        Assert.Equal(Status.Ok, FreeModel(0));
    }
}
