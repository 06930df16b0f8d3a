namespace RecurrentGemma.Cli;

/// <summary>
/// A one-line progress bar on stderr ("loading [#####.....]  48%"), redrawn in place, only when stderr is a terminal
/// (never in pipes, logs or tests), and only for work that takes a while.
/// </summary>
public sealed class ProgressBar(TextWriter stderr, bool enabled)
{
    const int Width = 30;
    int _lastPercent = -1;
    string _label = "";

    public Action<double>? For(string label)
    {
        if (!enabled) return null;
        return fraction =>
        {
            int percent = (int)Math.Clamp(fraction * 100, 0, 100);
            if (percent == _lastPercent && label == _label) return;
            _lastPercent = percent;
            _label = label;
            int filled = percent * Width / 100;
            stderr.Write($"\r{label} [{new string('#', filled)}{new string('.', Width - filled)}] {percent,3}%");
            if (percent == 100) stderr.Write("\r" + new string(' ', label.Length + Width + 8) + "\r");
            stderr.Flush();
        };
    }
}
