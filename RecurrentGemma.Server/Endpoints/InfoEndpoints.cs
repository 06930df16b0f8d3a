using Microsoft.AspNetCore.Http;
using RecurrentGemma.Core;
using RecurrentGemma.Server.Api;
using RecurrentGemma.Server.Requests;

namespace RecurrentGemma.Server.Endpoints;

/// <summary>GET /v1/models, GET /health, GET /metrics, POST /tokenize and POST /detokenize (llama-server's shapes).</summary>
public static class InfoEndpoints
{
    public static Task ModelsAsync(HttpContext http, ModelHost host)
    {
        _ = host.Generator;   // 503 while loading
        var list = new ModelList { Data = [new ModelCard { Id = host.Options.ModelName, Created = host.Created }] };
        return http.Response.WriteAsJsonAsync(list, ServerJson.Context.ModelList, cancellationToken: http.RequestAborted);
    }

    public static Task HealthAsync(HttpContext http, ModelHost host)
    {
        string status = host.IsLoaded ? "ok" : host.Ready.IsFaulted ? "error" : "loading";
        http.Response.StatusCode = host.IsLoaded ? 200 : 503;
        return http.Response.WriteAsJsonAsync(new HealthResponse { Status = status }, ServerJson.Context.HealthResponse, cancellationToken: http.RequestAborted);
    }

    public static Task MetricsAsync(HttpContext http, ModelHost host)
    {
        http.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        return http.Response.WriteAsync(host.MetricsText(), http.RequestAborted);
    }

    public static async Task TokenizeAsync(HttpContext http, ModelHost host)
    {
        var body = await RequestReader.ReadAsync(http.Request, ServerJson.Context.TokenizeRequest, host.LargeBodies).ConfigureAwait(false);
        if (body.Content is null) throw ApiException.BadField("content", "is required: the text to tokenize");
        var tokenizer = host.Tokenizer;
        // The same limits as a prompt: a place in the queue, the length bound before BPE, and the gate's concurrency.
        using var ticket = host.Admission.Enter(1);
        var gate = host.Tokenizing;
        gate.CheckLength(body.Content.Length, "content");
        var ids = await gate.RunAsync(() => tokenizer.Encode(body.Content, addBos: body.AddSpecial ?? true), http.RequestAborted).ConfigureAwait(false);
        var response = new TokenizeResponse
        {
            Tokens = [.. ids],
            Pieces = body.WithPieces == true ? [.. ids.Select(tokenizer.Piece)] : null,
        };
        await http.Response.WriteAsJsonAsync(response, ServerJson.Context.TokenizeResponse, cancellationToken: http.RequestAborted).ConfigureAwait(false);
    }

    public static async Task DetokenizeAsync(HttpContext http, ModelHost host)
    {
        var body = await RequestReader.ReadAsync(http.Request, ServerJson.Context.DetokenizeRequest, host.LargeBodies).ConfigureAwait(false);
        if (body.Tokens is null) throw ApiException.BadField("tokens", "is required: a list of token ids");
        string text;
        try
        {
            text = host.Tokenizer.Decode([.. body.Tokens]);
        }
        catch (TokenizerException e)
        {
            throw ApiException.BadField("tokens", e.Message);
        }
        await http.Response.WriteAsJsonAsync(new DetokenizeResponse { Content = text }, ServerJson.Context.DetokenizeResponse, cancellationToken: http.RequestAborted).ConfigureAwait(false);
    }
}
