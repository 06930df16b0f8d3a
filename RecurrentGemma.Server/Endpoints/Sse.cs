using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace RecurrentGemma.Server.Endpoints;

/// <summary>Server-sent events as OpenAI streams them: <c>data: {json}</c> lines, each flushed at once, then <c>data: [DONE]</c>.</summary>
public static class Sse
{
    static readonly byte[] Prefix = "data: "u8.ToArray(), Suffix = "\n\n"u8.ToArray(), Done = "data: [DONE]\n\n"u8.ToArray();

    public static void Start(HttpResponse response)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";   // proxies such as nginx: do not buffer the stream
    }

    public static async Task WriteAsync<T>(HttpResponse response, T value, JsonTypeInfo<T> type, CancellationToken cancellation)
    {
        var body = response.Body;
        await body.WriteAsync(Prefix, cancellation).ConfigureAwait(false);
        await JsonSerializer.SerializeAsync(body, value, type, cancellation).ConfigureAwait(false);
        await body.WriteAsync(Suffix, cancellation).ConfigureAwait(false);
        await body.FlushAsync(cancellation).ConfigureAwait(false);
    }

    public static async Task DoneAsync(HttpResponse response, CancellationToken cancellation)
    {
        await response.Body.WriteAsync(Done, cancellation).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellation).ConfigureAwait(false);
    }

    /// <summary>An error after the headers went out: it goes in the stream, as OpenAI does, then [DONE].</summary>
    public static async Task ErrorAsync(HttpResponse response, Api.ErrorBody error, CancellationToken cancellation)
    {
        await WriteAsync(response, error, Api.ServerJson.Context.ErrorBody, cancellation).ConfigureAwait(false);
        await DoneAsync(response, cancellation).ConfigureAwait(false);
    }

    public static string NewId(string prefix) => prefix + Guid.NewGuid().ToString("N")[..24];

    public static long UnixNow() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}
