using RecurrentGemma.Core;
using RecurrentGemma.Core.Sampling;

namespace RecurrentGemma.Native;

/// <summary>rg_status: every entry point's result (include/recurrentgemma.h documents each).</summary>
public enum Status
{
    Ok = 0,
    InvalidArgument = 1,
    Model = 2,
    Tokenizer = 3,
    Token = 4,
    BufferTooSmall = 5,
    Snapshot = 6,
    Internal = 99,
}

/// <summary>Turns an exception into a status and the thread's last-error message, so none ever crosses the C boundary.</summary>
public static class StatusMapping
{
    public static Status Fail(Exception e)
    {
        var status = e switch
        {
            AbiArgumentException or SamplingParameterException => Status.InvalidArgument,
            ModelConfigException or CheckpointException => Status.Model,
            TokenizerException => Status.Tokenizer,
            SnapshotException => Status.Snapshot,
            EngineFaultException => Status.Internal,
            RecurrentGemmaException => Status.Token,
            IOException or UnauthorizedAccessException => Status.Model,
            _ => Status.Internal,
        };
        LastError.Set(status == Status.Internal ? $"internal error ({e.GetType().Name}): {e.Message}" : e.Message);
        return status;
    }

    public static Status Fail(Status status, string message)
    {
        LastError.Set(message);
        return status;
    }
}

/// <summary>A pointer, size or handle passed to an entry point is invalid; the message names the function and parameter.</summary>
public sealed class AbiArgumentException(string message) : Exception(message);
