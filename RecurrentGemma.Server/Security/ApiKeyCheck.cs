using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace RecurrentGemma.Server.Security;

/// <summary>
/// Bearer-token check for every route but /health, /metrics and the chat page at / (which asks for the key itself). Both sides are hashed first, so the comparison is
/// constant-time over a fixed length (the key's length does not leak through timing either).
/// </summary>
public sealed class ApiKeyCheck(string key)
{
    readonly byte[] _expected = SHA256.HashData(Encoding.UTF8.GetBytes(key));

    public static bool IsOpen(PathString path) => path == "/" || path.StartsWithSegments("/health") || path.StartsWithSegments("/metrics");

    public bool Allows(HttpRequest request)
    {
        string header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(given, _expected);
    }
}
