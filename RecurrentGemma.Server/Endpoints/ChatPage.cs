using Microsoft.AspNetCore.Http;

namespace RecurrentGemma.Server.Endpoints;

/// <summary>
/// GET /: the chat page (Web/chat.html, embedded). Open without the API key: the page asks for it when the API does.
/// A content security policy keeps it to this server (no other origin is loaded or called).
/// </summary>
public static class ChatPage
{
    static readonly byte[] Html = Load();

    static byte[] Load()
    {
        using var stream = typeof(ChatPage).Assembly.GetManifestResourceStream("web/chat.html")
            ?? throw new InvalidOperationException("the chat page is not embedded in RecurrentGemma.Server");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    public static Task ServeAsync(HttpContext http)
    {
        var response = http.Response;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["Content-Security-Policy"] = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'";
        response.Headers["X-Content-Type-Options"] = "nosniff";
        return response.Body.WriteAsync(Html, http.RequestAborted).AsTask();
    }
}
