using RecurrentGemma.Kernels;

namespace RecurrentGemma.Tests.Support;

/// <summary>Naive double-precision versions of each kernel, written straight from SPEC.md: the yardstick for every SIMD path.</summary>
public static class ReferenceKernels
{
    public static double Gelu(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    public static double[] MatMul(float[] x, int rows, ushort[] w, int outDim, float[]? bias)
    {
        int inDim = x.Length / rows;
        var y = new double[rows * outDim];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outDim; o++)
            {
                double s = bias?[o] ?? 0;
                for (int i = 0; i < inDim; i++) s += (double)x[r * inDim + i] * Bf16.ToFloat(w[o * inDim + i]);
                y[r * outDim + o] = s;
            }
        return y;
    }

    public static double[] RmsNorm(float[] x, float[] scale, float eps, int rows)
    {
        int d = scale.Length;
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double ms = 0;
            for (int i = 0; i < d; i++) ms += (double)x[r * d + i] * x[r * d + i];
            double inv = 1 / Math.Sqrt(ms / d + eps);
            for (int i = 0; i < d; i++) y[r * d + i] = x[r * d + i] * inv * scale[i];
        }
        return y;
    }

    /// <summary>Full causal conv over history ++ x; weight tap-major [K, C].</summary>
    public static double[] Conv(float[] history, float[] x, int rows, float[] weight, float[] bias)
    {
        int c = bias.Length, taps = weight.Length / c;
        var all = new float[history.Length + x.Length];
        history.CopyTo(all, 0);
        x.CopyTo(all, history.Length);
        var y = new double[rows * c];
        for (int t = 0; t < rows; t++)
            for (int ch = 0; ch < c; ch++)
            {
                double s = bias[ch];
                for (int k = 0; k < taps; k++) s += (double)weight[k * c + ch] * all[(t + k) * c + ch];
                y[t * c + ch] = s;
            }
        return y;
    }

    public static double[] Scan(float[] x, float[] gx, float[] ga, float[] decay, float[] y, double[] h, bool reset, int rows)
    {
        int e = decay.Length;
        var outp = new double[rows * e];
        for (int t = 0; t < rows; t++)
            for (int i = 0; i < e; i++)
            {
                int j = t * e + i;
                double logA = decay[i] * Sigmoid(ga[j]);
                double gated = x[j] * Sigmoid(gx[j]);
                bool r = reset && t == 0;
                h[i] = r ? gated : Math.Exp(logA) * h[i] + Math.Sqrt(1 - Math.Exp(2 * logA)) * gated;
                outp[j] = h[i] * y[j];
            }
        return outp;
    }

    /// <summary>Attention over an explicit full key history (positions 0..start+rows-1), window+1 keys per query.</summary>
    public static double[] Attention(float[] q, float[] keys, float[] values, int rows, int start, int window, int heads, int hd)
    {
        var outp = new double[rows * heads * hd];
        for (int i = 0; i < rows; i++)
        {
            int t = start + i, first = Math.Max(0, t - window);
            for (int h = 0; h < heads; h++)
            {
                var scores = new double[t - first + 1];
                for (int s = first; s <= t; s++)
                {
                    double d = 0;
                    for (int k = 0; k < hd; k++) d += (double)q[(i * heads + h) * hd + k] * keys[s * hd + k];
                    scores[s - first] = d / Math.Sqrt(hd);
                }
                double max = scores.Max(), sum = 0;
                for (int j = 0; j < scores.Length; j++) sum += scores[j] = Math.Exp(scores[j] - max);
                for (int s = first; s <= t; s++)
                    for (int k = 0; k < hd; k++) outp[(i * heads + h) * hd + k] += scores[s - first] / sum * values[s * hd + k];
            }
        }
        return outp;
    }
}
