namespace RecurrentGemma.Core.Model;

/// <summary>
/// Debug hook: sees intermediate activations of a forward pass ([rows, width], rows in batch order) so tests can
/// compare them with reference dumps. Names: "embeddings_scaled" (layer -1), "temporal_out", "output".
/// </summary>
public delegate void HiddenStateObserver(string name, int layer, ReadOnlySpan<float> rows, int width);
