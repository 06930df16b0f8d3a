using System.Threading.Channels;
using RecurrentGemma.Core.Generation;

namespace RecurrentGemma.Core.Serving;

/// <summary>A submitted request: its tokens as they are generated, and its usage when it ends.</summary>
public sealed class RequestHandle
{
    internal readonly Channel<GeneratedToken> Channel = System.Threading.Channels.Channel.CreateUnbounded<GeneratedToken>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    internal readonly TaskCompletionSource<GenerationUsage> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Generated tokens (ids and text), then a last item with id <see cref="GenerationSession.NoToken"/> if text was held back.</summary>
    public IAsyncEnumerable<GeneratedToken> Tokens(CancellationToken cancellation = default) => Channel.Reader.ReadAllAsync(cancellation);

    /// <summary>Completes when the request ends (finished, stopped or cancelled).</summary>
    public Task<GenerationUsage> Completion => Done.Task;
}
