using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Http;
using RecurrentGemma.Server.Api;
using RecurrentGemma.Server.Requests;

namespace RecurrentGemma.Server.Endpoints;

/// <summary>POST /v1/completions: OpenAI's legacy text-completion API (a text prompt or token ids), whole or streamed.</summary>
public static class CompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext http, ModelHost host)
    {
        long arrived = Stopwatch.GetTimestamp();
        var body = await RequestReader.ReadAsync(http.Request, ServerJson.Context.CompletionRequest, host.LargeBodies).ConfigureAwait(false);
        var tokenizer = host.Tokenizer;
        using var ticket = RequestRun.Admit(host, GenerationRequest.ReadChoices(body, host.Options));
        var request = await CompletionRequestReader.ReadAsync(body, host.Options, host.Tokenizing, http.RequestAborted).ConfigureAwait(false);
        string id = Sse.NewId("cmpl-"), model = host.Options.ModelName;
        long created = Sse.UnixNow();
        var ct = http.RequestAborted;
        var types = ServerJson.Context.TextCompletion;
        int n = request.Choices;
        var texts = new StringBuilder[n];
        var logprobs = new TextLogprobs?[n];
        var reasons = new string?[n];
        for (int i = 0; i < n; i++)
        {
            texts[i] = new StringBuilder();
            if (request.Sampling.Logprobs) logprobs[i] = new TextLogprobs { Tokens = [], TokenLogprobs = [], TopLogprobs = [], TextOffset = [] };
        }
        bool started = false;
        TextCompletion Chunk(TextChoice choice) => new() { Id = id, Created = created, Model = model, Choices = [choice] };
        try
        {
            var summary = await RequestRun.RunAsync(http, host, request, arrived, async e =>
            {
                if (e.Finished is { } reason)
                {
                    reasons[e.Index] = RequestRun.FinishReason(reason);
                    if (request.Stream) await Sse.WriteAsync(http.Response, Chunk(new TextChoice { Text = "", Index = e.Index, FinishReason = reasons[e.Index] }), types, ct).ConfigureAwait(false);
                    return;
                }
                TextLogprobs? step = null;
                if (e.Token.Logprobs is { } lp)
                {
                    step = request.Stream ? new TextLogprobs { Tokens = [], TokenLogprobs = [], TopLogprobs = [], TextOffset = [] } : logprobs[e.Index]!;
                    step.Tokens.Add(LogprobFormat.Text(tokenizer, e.Token.Id));
                    step.TokenLogprobs.Add(lp.Logprob);
                    var top = new Dictionary<string, float>();
                    foreach (var t in lp.Top) top.TryAdd(LogprobFormat.Text(tokenizer, t.Id), t.Logprob);
                    step.TopLogprobs.Add(top);
                    step.TextOffset.Add(texts[e.Index].Length);
                }
                texts[e.Index].Append(e.Token.Text);
                if (request.Stream && (!string.IsNullOrEmpty(e.Token.Text) || step is not null))
                    await Sse.WriteAsync(http.Response, Chunk(new TextChoice { Text = e.Token.Text ?? "", Index = e.Index, Logprobs = step }), types, ct).ConfigureAwait(false);
            }, request.Stream ? () => { Sse.Start(http.Response); started = true; return ValueTask.CompletedTask; } : null).ConfigureAwait(false);
            var usage = RequestRun.UsageOf(summary);
            if (request.Stream)
            {
                if (request.IncludeUsage) await Sse.WriteAsync(http.Response, new TextCompletion { Id = id, Created = created, Model = model, Choices = [], Usage = usage }, types, ct).ConfigureAwait(false);
                await Sse.DoneAsync(http.Response, ct).ConfigureAwait(false);
                return;
            }
            var completion = new TextCompletion
            {
                Id = id, Created = created, Model = model, Usage = usage,
                Choices = [.. Enumerable.Range(0, n).Select(i => new TextChoice { Text = texts[i].ToString(), Index = i, Logprobs = logprobs[i], FinishReason = reasons[i] ?? "stop" })],
            };
            await http.Response.WriteAsJsonAsync(completion, types, cancellationToken: ct).ConfigureAwait(false);
        }
        catch (Exception e) when (started && e is not OperationCanceledException && !ct.IsCancellationRequested)
        {
            await Sse.ErrorAsync(http.Response, ErrorResponses.Body(e, host), ct).ConfigureAwait(false);
        }
    }
}
