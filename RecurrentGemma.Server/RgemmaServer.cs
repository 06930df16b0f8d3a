using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Server.Endpoints;
using RecurrentGemma.Server.Requests;
using RecurrentGemma.Server.Security;

namespace RecurrentGemma.Server;

/// <summary>
/// The OpenAI-compatible server: Kestrel (ASP.NET Core's slim builder, minimal APIs, source-generated JSON) in front of
/// one <see cref="ModelHost"/>. It listens at once and loads the model in the background (/health says 503 until it is
/// ready). <see cref="StopAsync"/> drains: no new connections, running streams get <see cref="ServerOptions.DrainTimeout"/>
/// to finish, then are cancelled. The library captures no signals; the caller (rgemma serve) decides when to stop.
/// </summary>
public sealed class RgemmaServer : IAsyncDisposable
{
    readonly WebApplication _app;
    public ModelHost Host { get; }
    /// <summary>The bound addresses (with the real port when 0 was asked).</summary>
    public IReadOnlyList<string> Urls { get; }

    RgemmaServer(WebApplication app, ModelHost host, IReadOnlyList<string> urls)
    {
        _app = app;
        Host = host;
        Urls = urls;
    }

    /// <param name="logger">Where the server logs; null: ASP.NET Core's console logger on stderr, at <see cref="ServerOptions.LogLevel"/>.</param>
    public static async Task<RgemmaServer> StartAsync(ServerOptions options, Func<SchedulerOptions, TextGenerator> open, ILoggerProvider? logger = null)
    {
        options.Validate();
        var address = options.ListenAddress;
        var host = new ModelHost(options, open);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (logger is not null) builder.Logging.AddProvider(logger);
        else builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff ";
        }).AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);   // stdout is the CLI's (its start line)
        builder.Logging.SetMinimumLevel(options.LogLevel);
        // ASP.NET Core's own per-request lines, and the host's start lines (the caller prints its own), only when asked for
        // debug detail; their warnings and errors always.
        if (options.LogLevel > LogLevel.Debug)
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning).AddFilter("Microsoft.Hosting", LogLevel.Warning);
        builder.Services.AddSingleton<IHostLifetime, CallerLifetime>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.DrainTimeout);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            k.AddServerHeader = false;
            k.Listen(address, options.Port);
        });
        if (options.CorsOrigin is not null) builder.Services.AddCors();
        var app = builder.Build();
        host.Logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("RecurrentGemma.Server");
        Configure(app, host);
        try
        {
            await app.StartAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            host.Dispose();
            throw new Core.RecurrentGemmaException($"cannot listen on {options.Host}:{options.Port}: {e.Message}", e);
        }
        var urls = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToList();
        return new RgemmaServer(app, host, urls);
    }

    static void Configure(WebApplication app, ModelHost host)
    {
        var options = host.Options;
        // Outermost: count every answer by endpoint and status.
        app.Use(async (http, next) =>
        {
            try { await next(http).ConfigureAwait(false); }
            finally { host.Metrics.Request(EndpointName(http.Request.Path), http.RequestAborted.IsCancellationRequested ? 499 : http.Response.StatusCode); }
        });
        // Errors as OpenAI error objects; a client that left gets nothing, but a server-side failure is logged all the same.
        app.Use(async (http, next) =>
        {
            try
            {
                await next(http).ConfigureAwait(false);
            }
            catch (Exception e) when (http.RequestAborted.IsCancellationRequested)
            {
                ErrorResponses.AfterClientLeft(e, host, http);
            }
            catch (Exception e) when (!http.Response.HasStarted)
            {
                await ErrorResponses.WriteAsync(http, ErrorResponses.ToApi(e, host)).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // The answer had started (a stream's headers): it cannot change status; the log keeps the error.
                _ = ErrorResponses.ToApi(e, host);
                http.Abort();
            }
        });
        if (options.CorsOrigin is { } origin)
            app.UseCors(policy => policy.WithOrigins(origin.TrimEnd('/')).AllowAnyHeader().WithMethods("GET", "POST"));
        if (options.ApiKey is { } key)
        {
            var check = new ApiKeyCheck(key);
            app.Use((http, next) =>
            {
                if (ApiKeyCheck.IsOpen(http.Request.Path) || check.Allows(http.Request)) return next(http);
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return ErrorResponses.WriteAsync(http, new ApiException(401, "missing or wrong API key: send Authorization: Bearer <key>", code: "invalid_api_key"));
            });
        }
        app.MapPost("/v1/chat/completions", http => ChatCompletionsEndpoint.HandleAsync(http, host));
        app.MapPost("/v1/completions", http => CompletionsEndpoint.HandleAsync(http, host));
        app.MapGet("/", ChatPage.ServeAsync);
        app.MapGet("/v1/models", http => InfoEndpoints.ModelsAsync(http, host));
        app.MapGet("/health", http => InfoEndpoints.HealthAsync(http, host));
        app.MapGet("/metrics", http => InfoEndpoints.MetricsAsync(http, host));
        app.MapPost("/tokenize", http => InfoEndpoints.TokenizeAsync(http, host));
        app.MapPost("/detokenize", http => InfoEndpoints.DetokenizeAsync(http, host));
        app.MapFallback(http => ErrorResponses.WriteAsync(http, new ApiException(404, $"no route {http.Request.Method} {http.Request.Path}; see / (the chat page), /v1/chat/completions, /v1/completions, /v1/models, /health, /metrics, /tokenize, /detokenize", code: "not_found")));
    }

    static readonly string[] KnownEndpoints = ["/", "/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics", "/tokenize", "/detokenize"];

    static string EndpointName(PathString path) => Array.IndexOf(KnownEndpoints, path.Value) is int i and >= 0 ? KnownEndpoints[i] : "other";

    /// <summary>Drains (see the class summary) and releases the model.</summary>
    public async Task StopAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        Host.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A host lifetime that leaves signals to the caller (the default console lifetime would take Ctrl-C and SIGTERM).</summary>
    sealed class CallerLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
