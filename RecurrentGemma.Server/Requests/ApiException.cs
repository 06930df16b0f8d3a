namespace RecurrentGemma.Server.Requests;

/// <summary>A request the server refuses, as the HTTP status and OpenAI error object it answers with.</summary>
public sealed class ApiException(int status, string message, string? param = null, string? code = null) : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    /// <summary>Seconds a client should wait before retrying (429, 503).</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>OpenAI's error type for the status.</summary>
    public string Type => Status switch
    {
        400 or 404 or 413 => "invalid_request_error",
        401 => "authentication_error",
        429 => "rate_limit_error",
        503 => "service_unavailable",
        _ => "server_error",
    };

    public static ApiException BadField(string field, string problem) => new(400, $"{field}: {problem}", field, "invalid_value");
}
