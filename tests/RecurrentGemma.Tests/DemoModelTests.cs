using RecurrentGemma.Cli;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>The demo model embedded in rgemma unpacks to exactly the repository's files, once, atomically.</summary>
public class DemoModelTests
{
    [Fact]
    public void Unpacks_the_embedded_checkpoint_byte_for_byte_and_reuses_it()
    {
        string root = TestData.NewTempDirectory();
        string dir = DemoModel.UnpackInto(root);
        foreach (string file in DemoModel.Files)
            Assert.True(File.ReadAllBytes(Path.Combine(TestData.DemoModel, file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(dir, file))), file);
        var written = File.GetLastWriteTimeUtc(Path.Combine(dir, "model.safetensors"));

        Assert.Equal(dir, DemoModel.UnpackInto(root));
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(dir, "model.safetensors")));
        Assert.Equal([dir], Directory.GetDirectories(root));   // no staging folder left behind
    }

    [Fact]
    public void Concurrent_first_runs_agree_on_one_folder()
    {
        string root = TestData.NewTempDirectory();
        var dirs = new string[4];
        Parallel.For(0, dirs.Length, i => dirs[i] = DemoModel.UnpackInto(root));
        Assert.All(dirs, d => Assert.Equal(dirs[0], d));
        Assert.Equal([dirs[0]], Directory.GetDirectories(root));
        Assert.Equal(new FileInfo(Path.Combine(TestData.DemoModel, "model.safetensors")).Length, new FileInfo(Path.Combine(dirs[0], "model.safetensors")).Length);
    }

    [Fact]
    public void An_unwritable_cache_is_an_IO_error_naming_the_folder()
    {
        string file = Path.Combine(TestData.NewTempDirectory(), "not-a-folder");
        File.WriteAllText(file, "x");
        var e = Assert.ThrowsAny<IOException>(() => DemoModel.UnpackInto(file));   // a file where the cache folder should be
        Assert.Contains("not-a-folder", e.Message);
    }
}
