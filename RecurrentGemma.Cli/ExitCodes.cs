namespace RecurrentGemma.Cli;

/// <summary>Process exit codes, documented in the README.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>The model, checkpoint or input data is invalid or unreadable.</summary>
    public const int Failure = 1;
    /// <summary>Bad command-line arguments (unknown option, malformed value, out-of-range number or token id).</summary>
    public const int Usage = 2;
    /// <summary>Stopped by Ctrl-C or SIGTERM before it was ready (128 + SIGINT, the shell's convention).</summary>
    public const int Interrupted = 130;
}

/// <summary>A command-line argument is wrong; reported in one line with <see cref="ExitCodes.Usage"/>.</summary>
public sealed class UsageException(string message) : Exception(message);
