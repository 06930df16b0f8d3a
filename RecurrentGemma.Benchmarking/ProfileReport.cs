using System.Text.Json;
using RecurrentGemma.Core.Model;

namespace RecurrentGemma.Benchmarking;

/// <summary>A <see cref="StepProfile"/> as bench prints it: seconds per phase (JSON) and each phase's share (table).</summary>
public static class ProfileReport
{
    /// <summary>JSON name of a phase: matmul, attention, recurrence, elementwise, logits_head, sampling.</summary>
    public static string Key(StepPhase phase) => phase switch
    {
        StepPhase.Matmul => "matmul",
        StepPhase.Attention => "attention",
        StepPhase.Recurrence => "recurrence",
        StepPhase.Elementwise => "elementwise",
        StepPhase.LogitsHead => "logits_head",
        _ => "sampling",
    };

    /// <summary>An object of seconds per phase, per step (divided by <paramref name="steps"/>).</summary>
    public static void WriteJson(Utf8JsonWriter json, string name, StepProfile profile, int steps)
    {
        json.WriteStartObject(name);
        foreach (var phase in StepProfile.Phases) json.WriteNumber(Key(phase) + "_s", Math.Round(profile.Seconds(phase) / steps, 7));
        json.WriteEndObject();
    }

    /// <summary>"matmul 71.2%, attention 3.1%, ..." of the profile's total.</summary>
    public static string Shares(StepProfile profile)
    {
        double total = Math.Max(profile.TotalSeconds, 1e-12);
        return string.Join(", ", StepProfile.Phases.Select(p => $"{Key(p)} {profile.Seconds(p) / total:P1}"));
    }
}
