using System.Globalization;
using System.Text;

namespace RecurrentGemma.Benchmarking;

/// <summary>One named line of a chart.</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<(double X, double Y)> Points);

/// <summary>A minimal line chart as SVG text (no plotting dependency): axes with ticks, polylines with markers, a legend.</summary>
public static class SvgChart
{
    const int Width = 520, Height = 340, Left = 70, Right = 20, Top = 40, Bottom = 50;
    static readonly string[] Colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

    /// <param name="logX">Log2 x axis (batch sizes 1, 4, 16, ...).</param>
    public static string Line(string title, string xLabel, string yLabel, IReadOnlyList<(double X, double Y)> points, bool logX = false) =>
        Lines(title, xLabel, yLabel, [new ChartSeries("", points)], logX);

    /// <summary>Several lines on shared axes; a legend names them when there is more than one.</summary>
    public static string Lines(string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series, bool logX = false)
    {
        var inv = CultureInfo.InvariantCulture;
        var points = series.SelectMany(s => s.Points).ToList();
        double Fx(double x) => logX ? Math.Log2(Math.Max(x, 1e-9)) : x;
        double x0 = points.Min(p => Fx(p.X)), x1 = points.Max(p => Fx(p.X)), y1 = points.Max(p => p.Y) * 1.1;
        if (x1 == x0) x1 = x0 + 1;
        if (y1 <= 0) y1 = 1;
        double Px(double x) => Left + (Fx(x) - x0) / (x1 - x0) * (Width - Left - Right);
        double Py(double y) => Height - Bottom - y / y1 * (Height - Top - Bottom);
        var svg = new StringBuilder();
        svg.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(inv, $"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n");
        svg.Append(inv, $"<text x=\"{Width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{Escape(title)}</text>\n");
        svg.Append(inv, $"<line x1=\"{Left}\" y1=\"{Height - Bottom}\" x2=\"{Width - Right}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>\n");
        svg.Append(inv, $"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>\n");
        for (int i = 0; i <= 4; i++)
        {
            double y = y1 * i / 4;
            svg.Append(inv, $"<text x=\"{Left - 6}\" y=\"{Py(y) + 4:F1}\" text-anchor=\"end\">{Number(y)}</text>\n");
            svg.Append(inv, $"<line x1=\"{Left}\" y1=\"{Py(y):F1}\" x2=\"{Width - Right}\" y2=\"{Py(y):F1}\" stroke=\"#ddd\"/>\n");
        }
        foreach (var (x, _) in points.DistinctBy(p => p.X))
            svg.Append(inv, $"<text x=\"{Px(x):F1}\" y=\"{Height - Bottom + 16}\" text-anchor=\"middle\">{Number(x)}</text>\n");
        svg.Append(inv, $"<text x=\"{(Left + Width - Right) / 2}\" y=\"{Height - 10}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n");
        svg.Append(inv, $"<text x=\"16\" y=\"{(Top + Height - Bottom) / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {(Top + Height - Bottom) / 2})\">{Escape(yLabel)}</text>\n");
        for (int i = 0; i < series.Count; i++)
        {
            string color = Colors[i % Colors.Length];
            svg.Append(inv, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"");
            foreach (var (x, y) in series[i].Points) svg.Append(inv, $"{Px(x):F1},{Py(y):F1} ");
            svg.Append("\"/>\n");
            foreach (var (x, y) in series[i].Points) svg.Append(inv, $"<circle cx=\"{Px(x):F1}\" cy=\"{Py(y):F1}\" r=\"3\" fill=\"{color}\"/>\n");
            if (series.Count > 1)
                svg.Append(inv, $"<text x=\"{Width - Right - 4}\" y=\"{Top + 4 + 15 * i}\" text-anchor=\"end\" fill=\"{color}\">{Escape(series[i].Name)}</text>\n");
        }
        return svg.Append("</svg>\n").ToString();
    }

    static string Number(double v) => v >= 100 ? v.ToString("F0", CultureInfo.InvariantCulture) : v.ToString("0.##", CultureInfo.InvariantCulture);

    static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
