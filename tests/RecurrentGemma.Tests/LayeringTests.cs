using System.Reflection;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>
/// The arrows point one way: Cli / Native / Benchmarking -> Core -> Kernels. Checked on the built assemblies' own
/// references, and on the source for the namespace rule inside Core (Generation builds on Serving, never back).
/// </summary>
public class LayeringTests
{
    static string[] OurReferences(Assembly assembly) =>
        [.. assembly.GetReferencedAssemblies().Select(a => a.Name!).Where(n => n.StartsWith("RecurrentGemma", StringComparison.Ordinal) || n == "librecurrentgemma" || n == "rgemma").Order()];

    [Fact]
    public void Each_assembly_references_only_the_layers_below_it()
    {
        Assert.Empty(OurReferences(typeof(Kernels.SimdWidth).Assembly));
        Assert.Equal(["RecurrentGemma.Kernels"], OurReferences(typeof(Core.Generation.TextGenerator).Assembly));
        Assert.Equal(["RecurrentGemma.Core", "RecurrentGemma.Kernels"], OurReferences(typeof(Benchmarking.ModelCost).Assembly));
        // The front ends talk to the library, not to the kernels; the C library carries no benchmarking code.
        Assert.Equal(["RecurrentGemma.Benchmarking", "RecurrentGemma.Core", "RecurrentGemma.Server"], OurReferences(typeof(Cli.CliApp).Assembly));
        Assert.Equal(["RecurrentGemma.Core"], OurReferences(typeof(RecurrentGemma.Server.RgemmaServer).Assembly));
        Assert.Equal(["RecurrentGemma.Core"], OurReferences(typeof(Extensions.AI.RecurrentGemmaChatClient).Assembly));
        // HTTP lives in the server alone: the library and the kernels know no ASP.NET Core.
        foreach (var library in new[] { typeof(Kernels.SimdWidth).Assembly, typeof(Core.Generation.TextGenerator).Assembly })
            Assert.DoesNotContain(library.GetReferencedAssemblies(), a => a.Name!.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal));
        Assert.Equal(["RecurrentGemma.Core"], OurReferences(typeof(Native.StatusMapping).Assembly));
    }

    static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "RecurrentGemma.sln"))) return dir.FullName;
        throw new InvalidOperationException("RecurrentGemma.sln not found above the test assembly");
    }

    [Theory]
    [InlineData("RecurrentGemma.Core/Serving", "RecurrentGemma.Core.Generation")]
    [InlineData("RecurrentGemma.Core/Sampling", "RecurrentGemma.Core.Generation")]
    [InlineData("RecurrentGemma.Core/Sampling", "RecurrentGemma.Core.Serving")]
    [InlineData("RecurrentGemma.Core/Config", "RecurrentGemma.Kernels")]
    [InlineData("RecurrentGemma.Kernels", "Console.")]
    [InlineData("RecurrentGemma.Core", "Microsoft.AspNetCore")]
    [InlineData("RecurrentGemma.Core", "HttpContext")]
    public void A_folder_does_not_reach_up(string folder, string forbidden)
    {
        var offenders = Directory.EnumerateFiles(Path.Combine(RepositoryRoot(), folder), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Where(f => File.ReadAllText(f).Contains(forbidden, StringComparison.Ordinal))
            .Select(Path.GetFileName);
        Assert.Empty(offenders);
    }
}
