using System.Collections.Concurrent;
using RecurrentGemma.Core.Generation;

namespace RecurrentGemma.Native;

/// <summary>What an rg_model handle stands for: the generator, and the sessions created from it (freed with it).</summary>
public sealed class NativeModel(TextGenerator generator)
{
    public TextGenerator Generator { get; } = generator;
    public ConcurrentDictionary<nint, NativeSession> Sessions { get; } = new();
}

/// <summary>What an rg_session handle stands for.</summary>
public sealed class NativeSession(NativeModel model, GenerationSession session)
{
    public NativeModel Model { get; } = model;
    public GenerationSession Session { get; } = session;
}

/// <summary>The live handles of this process.</summary>
public static class Handles
{
    public static readonly HandleTable<NativeModel> Models = new("rg_model");
    public static readonly HandleTable<NativeSession> Sessions = new("rg_session");

    public static nint AddSession(NativeModel model, GenerationSession session)
    {
        var native = new NativeSession(model, session);
        nint handle = Sessions.Add(native);
        model.Sessions[handle] = native;
        return handle;
    }
}
