namespace RecurrentGemma.Server;

/// <summary>How the server listens and what it allows; <see cref="Validate"/> names the option and its accepted range.</summary>
public sealed record ServerOptions
{
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0 picks a free port (tests); the bound address is in <see cref="RgemmaServer.Urls"/>.</summary>
    public int Port { get; init; } = 8080;
    /// <summary>When set, every route but /health and /metrics needs <c>Authorization: Bearer KEY</c>.</summary>
    public string? ApiKey { get; init; }
    /// <summary>Sequences (choices) generating at once; more wait in the queue.</summary>
    public int MaxSequences { get; init; } = 64;
    /// <summary>Sequences that may wait for a slot; past that a request gets 429.</summary>
    public int MaxQueue { get; init; } = 256;
    /// <summary>The largest max_tokens a request may ask for, and the default when it asks none.</summary>
    public int MaxTokensCap { get; init; } = 4096;
    /// <summary>The longest prompt in tokens (400 past it).</summary>
    public int MaxPromptTokens { get; init; } = 32768;
    /// <summary>Memory for cached conversation states (0: off); inside <see cref="MemoryBudgetBytes"/>, from which live requests take it back.</summary>
    public long StateCacheBytes { get; init; } = 1L << 30;
    /// <summary>
    /// The one budget for what requests make the server hold: the engine's step buffers, and every sequence's state and
    /// logits (running, queued, forked choices, cached). Null: <see cref="DefaultBudgetShare"/> of what the machine can
    /// spare once the model is loaded.
    /// </summary>
    public long? MemoryBudgetBytes { get; init; }
    /// <summary>The share of the machine's spare memory the budget takes when none is given.</summary>
    public const double DefaultBudgetShare = 0.75;
    /// <summary>The least budget one may give (a budget too small for the model's engine and one sequence is refused at load, with the numbers).</summary>
    public const long MinMemoryBudgetBytes = 1L << 20;
    /// <summary>What the server logs (ASP.NET Core's console logger, on stderr): Information by default.</summary>
    public Microsoft.Extensions.Logging.LogLevel LogLevel { get; init; } = Microsoft.Extensions.Logging.LogLevel.Information;
    /// <summary>Request bodies larger than this get 413.</summary>
    public long MaxBodyBytes { get; init; } = 8L << 20;
    /// <summary>Browsers from this origin may call the API (CORS); null: no CORS headers.</summary>
    public string? CorsOrigin { get; init; }
    /// <summary>On shutdown, running streams get this long to finish before they are cancelled.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>The id /v1/models lists and responses carry.</summary>
    public string ModelName { get; init; } = "recurrentgemma";

    public const int MaxChoices = 128, MaxStopStrings = 4, MaxTopLogprobs = 20;

    public ServerOptions Validate()
    {
        Check(nameof(Port), Port, 0, 65535);
        Check(nameof(MaxSequences), MaxSequences, 1, 65536);
        Check(nameof(MaxQueue), MaxQueue, 0, 1 << 20);
        Check(nameof(MaxTokensCap), MaxTokensCap, 1, 1 << 24);
        Check(nameof(MaxPromptTokens), MaxPromptTokens, 1, 1 << 24);
        if (StateCacheBytes < 0) throw new ServerOptionException(nameof(StateCacheBytes), $"{StateCacheBytes} must be 0 (off) or more");
        if (MemoryBudgetBytes is { } budget && budget < MinMemoryBudgetBytes) throw new ServerOptionException(nameof(MemoryBudgetBytes), $"{budget >> 20} MB must be at least {MinMemoryBudgetBytes >> 20} MB");
        if (MaxBodyBytes < 1024) throw new ServerOptionException(nameof(MaxBodyBytes), $"{MaxBodyBytes} must be at least 1024");
        if (DrainTimeout < TimeSpan.Zero || DrainTimeout > TimeSpan.FromMinutes(10)) throw new ServerOptionException(nameof(DrainTimeout), $"{DrainTimeout.TotalSeconds} s must be in [0, 600] s");
        _ = ListenAddress;
        if (ApiKey is { Length: 0 }) throw new ServerOptionException(nameof(ApiKey), "must not be empty (leave it unset for no key)");
        if (CorsOrigin is not null && !Uri.TryCreate(CorsOrigin, UriKind.Absolute, out _)) throw new ServerOptionException(nameof(CorsOrigin), $"'{CorsOrigin}' is not an origin like http://localhost:3000");
        return this;
    }

    /// <summary>The <see cref="Host"/> as an address (localhost is 127.0.0.1); throws naming the option otherwise.</summary>
    public System.Net.IPAddress ListenAddress =>
        Host == "localhost" ? System.Net.IPAddress.Loopback
        : System.Net.IPAddress.TryParse(Host, out var ip) ? ip
        : throw new ServerOptionException(nameof(Host), $"'{Host}' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1) or localhost");

    static void Check(string name, long value, long min, long max)
    {
        if (value < min || value > max) throw new ServerOptionException(name, $"{value} must be in [{min}, {max}]");
    }
}

/// <summary>A server option is out of range; <see cref="Option"/> is the <see cref="ServerOptions"/> property (the CLI names its flag).</summary>
public sealed class ServerOptionException(string option, string problem) : Core.RecurrentGemmaException($"{option}: {problem}")
{
    public string Option { get; } = option;
    public string Problem { get; } = problem;
}
