using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using RecurrentGemma.Core;
using RecurrentGemma.Server.Api;
using RecurrentGemma.Server.Requests;

namespace RecurrentGemma.Server.Endpoints;

/// <summary>
/// Every failure as OpenAI's error object with the right status: what the request got wrong is 400 (413 for a body
/// too large), what failed on the server's side is 500 (503 while loading or shutting down). Every 500 and engine fault
/// is logged with its full exception text; the response carries only a sentence, never a stack trace or a type name.
/// </summary>
public static class ErrorResponses
{
    public static ApiException ToApi(Exception error, ModelHost host) => error switch
    {
        ApiException api => api,
        EngineFaultException fault => Logged(host, fault, new ApiException(500, fault.Message, code: "engine_fault")),
        // The server's own files and model: nothing the request can fix.
        CheckpointException or TokenizerException or ModelConfigException or SnapshotException =>
            Logged(host, error, new ApiException(500, "internal server error: the model or tokenizer failed (the server logged it)", code: "internal_error")),
        RecurrentGemmaException input => new ApiException(400, input.Message, code: "invalid_value"),
        BadHttpRequestException bad => new ApiException(bad.StatusCode, bad.Message, code: bad.StatusCode == 413 ? "request_too_large" : "bad_request"),
        ObjectDisposedException => Logged(host, error, new ApiException(503, "the server is shutting down", code: "shutting_down") { RetryAfterSeconds = 2 }, LogLevel.Warning),
        _ => Logged(host, error, new ApiException(500, "internal server error (the server logged it)", code: "internal_error")),
    };

    public static ErrorBody Body(Exception error, ModelHost host) => Body(ToApi(error, host));

    public static ErrorBody Body(ApiException api) => new()
    {
        Error = new ErrorDetail { Message = api.Message, Type = api.Type, Param = api.Param, Code = api.Code },
    };

    public static async Task WriteAsync(HttpContext http, ApiException api)
    {
        http.Response.StatusCode = api.Status;
        if (api.RetryAfterSeconds is { } seconds) http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await http.Response.WriteAsJsonAsync(Body(api), ServerJson.Context.ErrorBody, cancellationToken: http.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// An error after the client left: nothing can be answered, but a server-side failure is still logged (a client
    /// leaving never hides one); the cancellation the departure itself caused is only a debug line.
    /// </summary>
    public static void AfterClientLeft(Exception error, ModelHost host, HttpContext http)
    {
        if (error is OperationCanceledException or IOException || error is ApiException { Status: < 500 })
            host.Logger.LogDebug("{Method} {Path}: the client left ({Error})", http.Request.Method, http.Request.Path, error.Message);
        else _ = ToApi(error, host);
    }

    static ApiException Logged(ModelHost host, Exception error, ApiException answer, LogLevel level = LogLevel.Error)
    {
        host.Logger.Log(level, error, "answered {Status}: {Message}", answer.Status, answer.Message);
        return answer;
    }
}
