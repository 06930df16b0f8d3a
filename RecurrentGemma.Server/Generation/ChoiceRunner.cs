using System.Threading.Channels;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Server.Requests;

namespace RecurrentGemma.Server.Generation;

/// <summary>One generated token of choice <see cref="Index"/>, or (with <see cref="Finished"/> set) the end of that choice.</summary>
public readonly record struct ChoiceEvent(int Index, GeneratedToken Token, StopReason? Finished = null);

/// <summary>What a request used: prompt tokens, of which cached (not prefilled again), and tokens generated per choice.</summary>
public sealed record RunSummary(int PromptTokens, int CachedTokens, int[] Generated)
{
    public int CompletionTokens => Generated.Sum();
}

/// <summary>
/// Runs a request's choices on the generator's one scheduler, so they batch with every other request: the prompt is
/// prefilled once (from the longest cached state that it extends, caching states at its checkpoints on the way), then
/// forked into n sessions that generate together, choice i with seed + i. Finished sessions go back into the cache under
/// their history, so the conversation's next turn only prefills what is new.
/// </summary>
public static class ChoiceRunner
{
    public static async Task<RunSummary> RunAsync(TextGenerator generator, PromptStateCache cache, GenerationRequest request,
        ChannelWriter<ChoiceEvent> events, CancellationToken cancellation)
    {
        try
        {
            var ids = request.PromptIds;
            var (session, cached) = await cache.PrefillAsync(ids, request.Checkpoints, cancellation).ConfigureAwait(false);

            var sessions = new GenerationSession[request.Choices];
            sessions[0] = session;
            for (int i = 1; i < sessions.Length; i++) sessions[i] = session.Fork();
            var runs = new Task<GenerationUsage?>[sessions.Length];
            for (int i = 0; i < sessions.Length; i++)
            {
                var parameters = request.Sampling with { Seed = unchecked(request.Sampling.Seed + (ulong)i) };
                runs[i] = RunChoiceAsync(sessions[i], i, parameters, events, cancellation);
            }
            var usages = await Task.WhenAll(runs).ConfigureAwait(false);
            var generated = new int[usages.Length];
            for (int i = 0; i < usages.Length; i++)
            {
                generated[i] = usages[i]?.GeneratedTokens ?? 0;
                if (usages[i] is { StopReason: not StopReason.Cancelled }) cache.Add(sessions[i]);
            }
            return new RunSummary(ids.Length, cached, generated);
        }
        catch (Exception e)
        {
            events.TryComplete(e);
            throw;
        }
        finally
        {
            events.TryComplete();
        }
    }

    static async Task<GenerationUsage?> RunChoiceAsync(GenerationSession session, int index, Core.Sampling.SamplingParameters parameters,
        ChannelWriter<ChoiceEvent> events, CancellationToken cancellation)
    {
        await foreach (var token in session.GenerateAsync([], parameters, cancellation).ConfigureAwait(false))
            events.TryWrite(new ChoiceEvent(index, token));
        if (session.LastUsage is { } usage) events.TryWrite(new ChoiceEvent(index, default, usage.StopReason));
        return session.LastUsage;
    }
}
