using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Http;
using RecurrentGemma.Server.Api;
using RecurrentGemma.Server.Generation;
using RecurrentGemma.Server.Requests;

namespace RecurrentGemma.Server.Endpoints;

/// <summary>POST /v1/chat/completions: OpenAI's chat API, whole or streamed (SSE chunks, usage last when asked, [DONE]).</summary>
public static class ChatCompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext http, ModelHost host)
    {
        long arrived = Stopwatch.GetTimestamp();
        var body = await RequestReader.ReadAsync(http.Request, ServerJson.Context.ChatCompletionRequest, host.LargeBodies).ConfigureAwait(false);
        var tokenizer = host.Tokenizer;
        using var ticket = RequestRun.Admit(host, GenerationRequest.ReadChoices(body, host.Options));
        var request = await ChatRequestReader.ReadAsync(body, host.Options, host.Tokenizing, http.RequestAborted).ConfigureAwait(false);
        string id = Sse.NewId("chatcmpl-"), model = host.Options.ModelName;
        long created = Sse.UnixNow();
        var ct = http.RequestAborted;
        if (request.Stream)
        {
            var types = ServerJson.Context.ChatCompletionChunk;
            RunSummary summary;
            bool started = false;
            try
            {
                summary = await RequestRun.RunAsync(http, host, request, arrived, async e =>
                {
                    ChunkChoice choice;
                    if (e.Finished is { } reason) choice = new ChunkChoice { Index = e.Index, Delta = new ChunkDelta(), FinishReason = RequestRun.FinishReason(reason) };
                    else if (string.IsNullOrEmpty(e.Token.Text) && e.Token.Logprobs is null) return;
                    else choice = new ChunkChoice
                    {
                        Index = e.Index,
                        Delta = new ChunkDelta { Content = e.Token.Text ?? "" },
                        Logprobs = e.Token.Logprobs is { } lp ? new ChatLogprobs { Content = [LogprobFormat.Entry(tokenizer, e.Token.Id, lp)] } : null,
                    };
                    await Sse.WriteAsync(http.Response, Chunk(choice), types, ct).ConfigureAwait(false);
                }, async () =>
                {
                    Sse.Start(http.Response);
                    started = true;
                    for (int i = 0; i < request.Choices; i++)
                        await Sse.WriteAsync(http.Response, Chunk(new ChunkChoice { Index = i, Delta = new ChunkDelta { Role = "assistant", Content = "" } }), types, ct).ConfigureAwait(false);
                }).ConfigureAwait(false);
            }
            catch (Exception e) when (started && e is not OperationCanceledException && !ct.IsCancellationRequested)
            {
                await Sse.ErrorAsync(http.Response, ErrorResponses.Body(e, host), ct).ConfigureAwait(false);
                return;
            }
            if (request.IncludeUsage)
                await Sse.WriteAsync(http.Response, new ChatCompletionChunk { Id = id, Created = created, Model = model, Choices = [], Usage = RequestRun.UsageOf(summary) }, types, ct).ConfigureAwait(false);
            await Sse.DoneAsync(http.Response, ct).ConfigureAwait(false);
            return;
        }

        var texts = new StringBuilder[request.Choices];
        var logprobs = new List<LogprobEntry>?[request.Choices];
        var reasons = new string[request.Choices];
        for (int i = 0; i < texts.Length; i++)
        {
            texts[i] = new StringBuilder();
            if (request.Sampling.Logprobs) logprobs[i] = [];
        }
        var result = await RequestRun.RunAsync(http, host, request, arrived, e =>
        {
            if (e.Finished is { } reason) reasons[e.Index] = RequestRun.FinishReason(reason);
            else
            {
                texts[e.Index].Append(e.Token.Text);
                if (e.Token.Logprobs is { } lp) logprobs[e.Index]!.Add(LogprobFormat.Entry(tokenizer, e.Token.Id, lp));
            }
            return ValueTask.CompletedTask;
        }).ConfigureAwait(false);
        var completion = new ChatCompletion
        {
            Id = id, Created = created, Model = model, Usage = RequestRun.UsageOf(result),
            Choices = [.. Enumerable.Range(0, request.Choices).Select(i => new ChatChoice
            {
                Index = i,
                Message = new ChatMessageOut { Content = texts[i].ToString() },
                Logprobs = logprobs[i] is { } l ? new ChatLogprobs { Content = l } : null,
                FinishReason = reasons[i] ?? "stop",
            })],
        };
        await http.Response.WriteAsJsonAsync(completion, ServerJson.Context.ChatCompletion, cancellationToken: ct).ConfigureAwait(false);

        ChatCompletionChunk Chunk(ChunkChoice choice) => new() { Id = id, Created = created, Model = model, Choices = [choice] };
    }
}
