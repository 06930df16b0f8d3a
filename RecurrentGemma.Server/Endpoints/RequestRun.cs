using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Server.Generation;
using RecurrentGemma.Server.Requests;

namespace RecurrentGemma.Server.Endpoints;

/// <summary>
/// The part of answering a generation request both endpoints share: admission before any work (429 when the queue is
/// full, 400 when the request could never fit the memory budget), running the choices, handing each event to the
/// endpoint's writer, latency metrics, and cancelling the sequences at once when the client goes away or the writer fails.
/// </summary>
public static class RequestRun
{
    /// <summary>
    /// The request's place in the bounded queue, taken before its text is tokenized or any memory rented: 503 while the
    /// model loads, 400 if its <paramref name="choices"/> could never fit the memory budget, 429 when the queue is full.
    /// </summary>
    public static Admission.Ticket Admit(ModelHost host, int choices, string what = "n")
    {
        var memory = host.Memory;
        int need = ChoiceRunner.BlocksNeeded(choices);
        if (need > memory.MaxBlocks)
            throw new ApiException(400, $"{what}: {choices} choices need {need} sequences of {memory.BlockBytes >> 20} MB at once; the server's memory budget "
                + $"of {memory.CapacityBytes >> 20} MB holds {memory.MaxBlocks} (--memory-budget-mb)", what, "insufficient_memory");
        return host.Admission.Enter(choices);
    }

    /// <summary>Runs an admitted request (its ticket is the caller's, given back when the caller is done).</summary>
    public static async Task<RunSummary> RunAsync(HttpContext http, ModelHost host, GenerationRequest request, long arrived,
        Func<ChoiceEvent, ValueTask> onEvent, Func<ValueTask>? onAdmitted = null)
    {
        var generator = host.Generator;
        var cache = host.Cache;
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var channel = Channel.CreateUnbounded<ChoiceEvent>(new UnboundedChannelOptions { SingleReader = true });
        Task<RunSummary>? run = null;
        try
        {
            if (onAdmitted is not null) await onAdmitted().ConfigureAwait(false);   // e.g. a stream's headers: after the last possible 429
            run = ChoiceRunner.RunAsync(generator, cache, host.Memory, request, channel.Writer, cancel.Token);
            var last = new long[request.Choices];
            bool first = true;
            await foreach (var e in channel.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                if (e.Finished is null && e.Token.Id != GeneratedToken.NoId)
                {
                    long now = Stopwatch.GetTimestamp();
                    if (first) host.Metrics.TimeToFirstToken.Observe(Stopwatch.GetElapsedTime(arrived, now).TotalSeconds);
                    else if (last[e.Index] != 0) host.Metrics.InterTokenLatency.Observe(Stopwatch.GetElapsedTime(last[e.Index], now).TotalSeconds);
                    first = false;
                    last[e.Index] = now;
                    host.Metrics.Generated();
                }
                await onEvent(e).ConfigureAwait(false);
            }
            var summary = await run.ConfigureAwait(false);
            host.Metrics.Prompt(summary.PromptTokens, summary.CachedTokens);
            return summary;
        }
        catch
        {
            // The writer failed (the client left mid-write) or the run did: stop its sequences now, free their slots.
            cancel.Cancel();
            if (run is not null) try { await run.ConfigureAwait(false); } catch { /* the first error is the one reported */ }
            throw;
        }
    }

    public static string FinishReason(StopReason reason) => reason == StopReason.MaxTokens ? "length" : "stop";

    public static Api.Usage UsageOf(RunSummary summary) => new()
    {
        PromptTokens = summary.PromptTokens,
        CompletionTokens = summary.CompletionTokens,
        PromptTokensDetails = new Api.PromptTokensDetails { CachedTokens = summary.CachedTokens },
    };
}
