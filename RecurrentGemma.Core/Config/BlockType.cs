namespace RecurrentGemma.Core.Config;

/// <summary>The temporal-mixing block of a residual layer.</summary>
public enum BlockType
{
    /// <summary>Causal conv + RG-LRU (Griffin's recurrent block).</summary>
    Recurrent,
    /// <summary>Local sliding-window multi-query attention.</summary>
    Attention,
}
