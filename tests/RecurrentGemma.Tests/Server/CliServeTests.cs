using System.Diagnostics;
using System.Runtime.InteropServices;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests.Server;

/// <summary>rgemma serve as a user starts it: flags checked before anything listens, a bad model is one line and exit 1, SIGTERM drains and exits 0.</summary>
public sealed class CliServeTests
{
    [Theory]
    [InlineData("--port", "70000", "--port: 70000 must be in [0, 65535]")]
    [InlineData("--max-sequences", "0", "--max-sequences: 0 must be in [1, 65536]")]
    [InlineData("--state-cache-mb", "-1", "--state-cache-mb: -1 must be in [0, 1048576]")]
    [InlineData("--host", "example.com", "--host: 'example.com' is not an IP address")]
    [InlineData("--cors", "nonsense", "--cors: 'nonsense' is not an origin")]
    [InlineData("--drain-seconds", "9999", "--drain-seconds: 9999 must be in [0, 600]")]
    [InlineData("--weights", "q5", "--weights: 'q5' is not a weight format; expected bf16, q8 or q4")]
    [InlineData("--memory-budget-mb", "0", "--memory-budget-mb: 0 must be in [1, 16777216]")]
    [InlineData("--log-level", "loud", "--log-level: 'loud' is not a level; expected trace, debug, information, warning, error, critical, none")]
    public void Bad_flags_are_one_line_and_exit_2(string flag, string value, string message)
    {
        var (code, _, err) = flag == "--port" ? CliRunner.Run("serve", flag, value) : CliRunner.Run("serve", flag, value, "--port", "0");
        Assert.Equal(2, code);
        Assert.Contains(message, err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void A_budget_too_small_for_the_model_is_one_line_with_the_numbers_and_exit_1()
    {
        var (code, _, err) = CliRunner.Run("serve", "--memory-budget-mb", "1", "--port", "0");
        Assert.Equal(1, code);
        Assert.Contains("rgemma: error: a memory budget of 1 MB cannot hold the engine's fixed buffers", err);
        Assert.Contains("it needs at least", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void A_model_that_cannot_load_is_one_line_and_exit_1()
    {
        var (code, _, err) = CliRunner.Run("serve", "--model", Path.Combine(TestData.NewTempDirectory(), "missing"), "--port", "0");
        Assert.Equal(1, code);
        Assert.Contains("rgemma: error:", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public async Task Serves_the_demo_model_in_q8_and_drains_on_sigterm()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "rgemma.dll"), "serve", "--port", "0", "--weights", "q8"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        try
        {
            string? url = null;
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (url is null && DateTime.UtcNow < deadline)
            {
                string? line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
                if (line is null) break;
                int at = line.IndexOf("http://", StringComparison.Ordinal);
                if (line.StartsWith("rgemma: serving", StringComparison.Ordinal) && at > 0) url = line[at..].Split(' ')[0];
            }
            Assert.NotNull(url);
            Assert.EndsWith("/v1", url);
            using var http = new HttpClient();
            var response = await http.PostAsync(url + "/chat/completions", new StringContent("""{"messages": [{"role": "user", "content": "Hail"}], "max_tokens": 5}""", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(0, Kill(process.Id, 15));   // SIGTERM
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(0, process.ExitCode);
            Assert.Contains("rgemma: stopping", await process.StandardError.ReadToEndAsync());
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    static extern int Kill(int pid, int signal);
}
