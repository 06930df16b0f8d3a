using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace RecurrentGemma.Core.Serving;

/// <summary>
/// A submitted request: its tokens as they are generated, and its usage when it ends. Every request ends, whatever
/// happens around it: with a result, as Cancelled, or with an error (the channel and <see cref="Completion"/> carry it).
/// </summary>
public sealed class RequestHandle
{
    internal readonly Channel<GeneratedToken> Channel = System.Threading.Channels.Channel.CreateUnbounded<GeneratedToken>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    internal readonly TaskCompletionSource<GenerationUsage> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly CancellationTokenSource _cancel = new();
    CancellationTokenRegistration _callerRegistration;
    Exception? _callbackFault;

    internal RequestHandle(CancellationToken callerCancellation)
    {
        // Not a linked source: the caller's token may outlive the request, so its registration is dropped when the request ends.
        if (callerCancellation.CanBeCanceled)
            _callerRegistration = callerCancellation.UnsafeRegister(static s => ((RequestHandle)s!).Cancel(), this);
    }

    /// <summary>
    /// Generated tokens (ids and text), then a last item with id <see cref="GeneratedToken.NoId"/> if text was held back.
    /// Leaving the loop early (break, an exception, <paramref name="cancellation"/>) cancels the request.
    /// </summary>
    public async IAsyncEnumerable<GeneratedToken> Tokens([EnumeratorCancellation] CancellationToken cancellation = default)
    {
        bool completed = false;
        try
        {
            await foreach (var token in Channel.Reader.ReadAllAsync(cancellation).ConfigureAwait(false))
                yield return token;
            completed = true;
        }
        finally
        {
            if (!completed) Cancel();
        }
    }

    /// <summary>Completes when the request ends (finished, stopped or cancelled); faults if the engine failed on it.</summary>
    public Task<GenerationUsage> Completion => Done.Task;

    /// <summary>Stops the request at the engine's next step and frees its slot; harmless once it has ended.</summary>
    public void Cancel() => _cancel.Cancel();

    internal bool CancellationRequested => _cancel.IsCancellationRequested;

    /// <summary>A caller's callback threw: the request ends with this error at the engine's next step.</summary>
    internal void FailFromCallback(Exception error)
    {
        Interlocked.CompareExchange(ref _callbackFault, error, null);
        Cancel();
    }

    internal Exception? CallbackFault => Volatile.Read(ref _callbackFault);

    internal void Complete(GenerationUsage usage)
    {
        _callerRegistration.Dispose();
        Channel.Writer.TryComplete();
        Done.TrySetResult(usage);
    }

    internal void Fail(Exception error)
    {
        _callerRegistration.Dispose();
        Channel.Writer.TryComplete(error);
        Done.TrySetException(error);
    }
}
