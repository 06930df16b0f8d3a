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
/// <para>
/// Memory comes from the server's one budget: the request rents, in one wait, what it cannot do without (the prompt's
/// state, plus one continuation's when n &gt; 1) and never waits again, so waiting requests hold nothing and the queue
/// always drains. Further choices fork lazily: each takes a block free at that moment (<see cref="MemoryBudget.TryRent"/>),
/// or the block of one of its own finished choices; with a tight budget a request's choices simply run fewer at a time.
/// </para>
/// </summary>
public static class ChoiceRunner
{
    /// <summary>Blocks a request of <paramref name="choices"/> cannot start without.</summary>
    public static int BlocksNeeded(int choices) => choices == 1 ? 1 : 2;

    public static async Task<RunSummary> RunAsync(TextGenerator generator, PromptStateCache cache, MemoryBudget memory, GenerationRequest request,
        ChannelWriter<ChoiceEvent> events, CancellationToken cancellation)
    {
        var spare = new Stack<StateBlock>();
        GenerationSession? parent = null;
        var running = new List<Task<Finished>>();
        try
        {
            var blocks = await memory.RentAsync(BlocksNeeded(request.Choices), cancellation).ConfigureAwait(false);
            for (int i = blocks.Length - 1; i >= 1; i--) spare.Push(blocks[i]);
            var ids = request.PromptIds;
            var (session, cached) = await cache.PrefillAsync(ids, request.Checkpoints, blocks[0], cancellation).ConfigureAwait(false);
            parent = session;
            var generated = new int[request.Choices];
            if (request.Choices == 1)
            {
                var usage = await RunChoiceAsync(parent, 0, request.Sampling, events, cancellation).ConfigureAwait(false);
                generated[0] = usage?.GeneratedTokens ?? 0;
                var finished = parent;
                parent = null;
                Keep(cache, finished, usage);
                return new RunSummary(ids.Length, cached, generated);
            }
            var idle = new Stack<GenerationSession>();   // finished choices whose memory the next ones reuse
            int next = 0;
            while (next < request.Choices || running.Count > 0)
            {
                while (next < request.Choices)
                {
                    GenerationSession choice;
                    if (idle.TryPop(out var reused)) { reused.CopyFrom(parent!); choice = reused; }
                    else if ((spare.TryPop(out var block) ? block : memory.TryRent()) is { } fresh) choice = parent!.Fork(fresh);
                    else break;   // none free: wait for one of this request's own choices to finish
                    var parameters = request.Sampling with { Seed = unchecked(request.Sampling.Seed + (ulong)next) };
                    running.Add(RunOneAsync(choice, next, parameters, events, cancellation));
                    next++;
                }
                if (next == request.Choices && parent is not null)
                {
                    parent.Dispose();   // every choice has its copy; the prompt's state was cached at its last checkpoint
                    parent = null;
                    while (idle.TryPop(out var unused)) unused.Dispose();
                }
                var done = await Task.WhenAny(running).ConfigureAwait(false);
                running.Remove(done);
                var (index, finishedChoice, used) = await done.ConfigureAwait(false);
                generated[index] = used?.GeneratedTokens ?? 0;
                if (next < request.Choices) idle.Push(finishedChoice);
                else Keep(cache, finishedChoice, used);
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
            // Whatever happened, every block this request holds goes back (a running choice's, once it has ended).
            foreach (var task in running)
            {
                try { (await task.ConfigureAwait(false)).Session.Dispose(); }
                catch (Exception) { /* its error is the request's, already on its way out */ }
            }
            parent?.Dispose();
            while (spare.TryPop(out var block)) memory.Return(block);
            events.TryComplete();
        }
    }

    readonly record struct Finished(int Index, GenerationSession Session, GenerationUsage? Usage);

    static async Task<Finished> RunOneAsync(GenerationSession session, int index, Core.Sampling.SamplingParameters parameters,
        ChannelWriter<ChoiceEvent> events, CancellationToken cancellation)
    {
        try
        {
            return new Finished(index, session, await RunChoiceAsync(session, index, parameters, events, cancellation).ConfigureAwait(false));
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>A finished choice's state goes to the cache under its history (a follow-up turn starts from it), unless it was cancelled.</summary>
    static void Keep(PromptStateCache cache, GenerationSession session, GenerationUsage? usage)
    {
        if (usage is { StopReason: not StopReason.Cancelled }) cache.Add(session);
        else session.Dispose();
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
