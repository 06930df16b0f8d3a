using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using MinDataRate = Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate;

namespace RecurrentGemma.Server.Requests;

/// <summary>
/// Reads a JSON body into its type, turning every way a body can be wrong into a 400/413 that names the field. A body is
/// parsed whole (its strings become .NET strings, twice its bytes), so large ones are parsed a few at a time: at most
/// <see cref="LargeBodiesAtOnce"/> bodies over <see cref="LargeBody"/> bytes (or of unknown length) per server at once,
/// the rest waiting without a thread (Kestrel stops reading their sockets meanwhile); a flood of 8 MB bodies then costs a
/// bounded few hundred MB, not N times that. A body holding one of those places must arrive at
/// <see cref="LargeBodyRate"/> or its connection is dropped, so slow senders cannot sit on the places.
/// </summary>
public static class RequestReader
{
    public const int LargeBody = 64 << 10, LargeBodiesAtOnce = 4;

    /// <summary>The pace a large body must keep while it is read: 64 KB/s after 5 s (an 8 MB body in at most ~2 min).</summary>
    public static readonly MinDataRate LargeBodyRate = new(bytesPerSecond: 64 << 10, gracePeriod: TimeSpan.FromSeconds(5));

    /// <param name="largeBodies">The server's places for large bodies (<see cref="LargeBodiesAtOnce"/> of them).</param>
    public static async Task<T> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> type, SemaphoreSlim largeBodies) where T : class
    {
        if (request.ContentType is { } contentType && !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            throw new ApiException(400, $"the body must be JSON (Content-Type: application/json), not {contentType}", code: "invalid_content_type");
        bool large = request.ContentLength is not { } length || length > LargeBody;
        if (large)
        {
            await largeBodies.WaitAsync(request.HttpContext.RequestAborted).ConfigureAwait(false);
            if (request.HttpContext.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } rate)
            {
                try { rate.MinDataRate = LargeBodyRate; }
                catch (NotSupportedException) { }   // HTTP/2 has its own flow control instead
            }
        }
        try
        {
            return await ParseAsync(request, type).ConfigureAwait(false);
        }
        finally
        {
            if (large) largeBodies.Release();
        }
    }

    static async Task<T> ParseAsync<T>(HttpRequest request, JsonTypeInfo<T> type) where T : class
    {
        try
        {
            return await JsonSerializer.DeserializeAsync(request.Body, type, request.HttpContext.RequestAborted).ConfigureAwait(false)
                ?? throw new ApiException(400, "the body is JSON null; expected an object", code: "invalid_json");
        }
        catch (JsonException e)
        {
            string field = FieldOf(e.Path);
            throw new ApiException(400, field.Length == 0 ? $"the body is not valid JSON: {FirstSentence(e.Message)}"
                : $"{field}: {FirstSentence(e.Message)}", field.Length == 0 ? null : field, "invalid_json");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new ApiException(413, $"the request body is larger than the server's limit of {request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize} bytes", code: "request_too_large");
        }
    }

    /// <summary>"$.messages[0].content" → "messages[0].content".</summary>
    static string FieldOf(string? path) => path is null ? "" : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path == "$" ? "" : path.TrimStart('$');

    static string FirstSentence(string message)
    {
        // System.Text.Json appends "Path: ... | LineNumber: ..." to its messages; the field is named already.
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        message = cut > 0 ? message[..cut].TrimEnd('.') : message.TrimEnd('.');
        // "The JSON value could not be converted to System.Int32": say what is expected in JSON's words, not .NET's.
        const string converted = "could not be converted to ";
        int at = message.IndexOf(converted, StringComparison.Ordinal);
        if (at < 0) return message;
        string type = message[(at + converted.Length)..];
        string expected = type.StartsWith("System.Collections.Generic.List", StringComparison.Ordinal) ? "a list"
            : type.Contains("Int32", StringComparison.Ordinal) || type.Contains("Int64", StringComparison.Ordinal) ? "an integer"
            : type.Contains("Double", StringComparison.Ordinal) ? "a number"
            : type.Contains("Boolean", StringComparison.Ordinal) ? "true or false"
            : type.Contains("String", StringComparison.Ordinal) ? "a string"
            : "an object";
        return $"expected {expected}";
    }
}
