using Microsoft.AspNetCore.Http;
using RecurrentGemma.Core;
using RecurrentGemma.Server.Api;
using RecurrentGemma.Server.Requests;

namespace RecurrentGemma.Server.Endpoints;

/// <summary>Every failure as OpenAI's error object with the right status; unexpected ones are logged, never shown as a stack trace.</summary>
public static class ErrorResponses
{
    public static ApiException ToApi(Exception error, ModelHost host) => error switch
    {
        ApiException api => api,
        EngineFaultException fault => Logged(host, fault, new ApiException(500, fault.Message, code: "engine_fault")),
        RecurrentGemmaException input => new ApiException(400, input.Message, code: "invalid_value"),
        BadHttpRequestException bad => new ApiException(bad.StatusCode, bad.Message, code: bad.StatusCode == 413 ? "request_too_large" : "bad_request"),
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

    static ApiException Logged(ModelHost host, Exception error, ApiException answer)
    {
        host.Log.WriteLine($"rgemma serve: error: {error.GetType().Name}: {error.Message}");
        return answer;
    }
}
